#include "runreplay.h"

#include "calibrationworker.h"
#include "runfile.h"
#include "runhistory.h"

#include "losscurveview.h"
#include "marginview.h"

#include <QScopedValueRollback>

#include <algorithm>
#include <set>

namespace aq::gui {

RunReplay::RunReplay(CalibrationWorker* worker, widgets::LossCurveView* losses, widgets::MarginView* margins,
                     const RunHistory* history)
    : m_worker(worker), m_losses(losses), m_margins(margins), m_history(history)
{
}

aq::RunViewsSummary RunReplay::inspect(const QString& runDir)
{
    aq::RunViewsSummary views;
    try {
        views = aq::inspectRunViews(runDir.toStdString());
    } catch (const std::exception& e) {
        views.problems.push_back(e.what());
    }
    return views;
}

void RunReplay::replayStoredViews(const QString& runDir, aq::RunViewsSummary* views)
{
    if (views->blocks.empty())
        return;
    const QScopedValueRollback<bool> replaying(m_replaying, true);
    try {
        const aq::RunViewsSummary replayed = m_worker->replay(runDir);
        views->blocks = replayed.blocks;
        views->missingBlocks = replayed.missingBlocks;
        views->problems = replayed.problems;
    } catch (const std::exception& e) {
        views->problems.push_back(e.what());
        views->missingBlocks.insert(views->missingBlocks.end(), views->blocks.begin(), views->blocks.end());
        views->blocks.clear();
    }
}

void RunReplay::showRecordedEpochs(const RunFile& run, const aq::RunViewsSummary& views) const
{
    const std::set<int> replayed(views.blocks.begin(), views.blocks.end());
    QVector<widgets::LossSeries> curves = m_history->loadCurves(run.record.id);
    if (curves.isEmpty())
        curves = run.epochLosses;
    for (const widgets::LossSeries& series : std::as_const(curves))
        if (!replayed.count(series.block))
            for (int i = 0; i < series.steps.size() && i < series.losses.size(); ++i)
                m_losses->appendPoint(series.block, series.steps[i], series.losses[i]);
    for (const RunFile::EpochMinimum& m : std::as_const(run.minima))
        if (!replayed.count(m.block))
            m_margins->addEpochMinimum(m.block, m.epoch, std::max(1, m.epochs), m.transform, m.minMargin);
}

std::optional<QString> RunReplay::replayFinishedBlocks(const InterruptedRun& run)
{
    // The engine reports only the blocks it calibrates now (and redoes the file of a block it wrote but did not
    // record as finished).
    const QScopedValueRollback<bool> replaying(m_replaying, true);
    try {
        m_worker->replay(run.runDir, run.completedBlocks);
    } catch (const std::exception& e) {
        return QString::fromStdString(e.what());
    }
    return std::nullopt;
}

}  // namespace aq::gui
