#pragma once
// The replay of a recorded run: a run folder's stored reports (aq/run_views.h) fed through the worker's signals, so
// that the window's live handlers fill the views as they did live, and what run.json keeps for the blocks without.
#include "aq/run_views.h"

#include <QString>

#include <optional>

namespace aq::widgets {
class LossCurveView;
class MarginView;
}  // namespace aq::widgets

namespace aq::gui {

class CalibrationWorker;
struct InterruptedRun;
class RunHistory;
struct RunFile;

class RunReplay {
public:
    /// `worker` emits the stored reports (the window's handlers are connected to it); `losses` and `margins` show
    /// run.json's figures, or the live curves `history` kept of a run this window saw.
    RunReplay(CalibrationWorker* worker, widgets::LossCurveView* losses, widgets::MarginView* margins,
              const RunHistory* history);

    /// A run's stored reports are being fed through the live handlers: what only a live run shows stays as it is.
    bool isReplaying() const { return m_replaying; }

    /// What `runDir` keeps of its views; a folder that cannot be read gives a summary with that problem.
    static aq::RunViewsSummary inspect(const QString& runDir);
    /// Replays the stored reports of `runDir` when `views` (its inspect()) lists blocks that have them, and updates
    /// `views` with what was shown: the blocks of a failed replay become missing, with its problem.
    void replayStoredViews(const QString& runDir, aq::RunViewsSummary* views);
    /// The blocks `views` replayed nothing for: losses and minimum margins per epoch from run.json (or the live
    /// curves, if this window saw the run).
    void showRecordedEpochs(const RunFile& run, const aq::RunViewsSummary& views) const;
    /// Replays the stored reports of the blocks a resumed run finished before. Why they could not be shown, if so.
    std::optional<QString> replayFinishedBlocks(const InterruptedRun& run);

private:
    CalibrationWorker* m_worker = nullptr;
    widgets::LossCurveView* m_losses = nullptr;
    widgets::MarginView* m_margins = nullptr;
    const RunHistory* m_history = nullptr;
    bool m_replaying = false;
};

}  // namespace aq::gui
