#pragma once
// The runs of the results table, kept in QSettings, and their loss curves, kept as small JSON files in the
// application's data folder (never inside the engine's run folder).
#include "viewdata.h"

#include <QString>
#include <QVector>

namespace aq::gui {

class RunHistory {
public:
    struct SavedRun {
        widgets::RunRecord record;
        QString modelDir;
    };

    QVector<SavedRun> load() const;
    void save(const QVector<SavedRun>& runs) const;
    /// Adds `run`, replacing an earlier entry of the same run.
    void remember(const SavedRun& run) const;
    /// Removes a run and its loss curves.
    void forget(const QString& runId) const;
    /// The runs of the model in `modelDir`, in the order they were saved.
    QVector<widgets::RunRecord> runsOfModel(const QString& modelDir) const;

    QString curvesFile(const QString& runId) const;
    void saveCurves(const QString& runId, const QVector<widgets::LossSeries>& curves) const;
    QVector<widgets::LossSeries> loadCurves(const QString& runId) const;
    /// The curves to compare a run with: the live ones this window kept, else the per-epoch means of its run.json
    /// (coarser, but comparable). Empty when there are neither.
    QVector<widgets::LossSeries> comparisonCurves(const QString& runId) const;
};

}  // namespace aq::gui
