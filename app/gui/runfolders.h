#pragma once
// The run folders the window makes and tidies: a new folder for each run under the runs folder, and what becomes of
// the folder of a run that stopped before the end.
#include "aq/calibrate.h"

#include <QCoreApplication>
#include <QString>

namespace aq::gui {

class RunFolders {
    Q_DECLARE_TR_FUNCTIONS(aq::gui::RunFolders)
public:
    /// A folder under `runsFolder` that does not exist yet, named after the model, the preset, the method and the
    /// time: "model-preset-method-yyyyMMdd-HHmmss", with "-2", "-3", … when taken.
    static QString newRunDir(const QString& runsFolder, const QString& modelDir, const QString& preset,
                             aq::Method method);

    /// What became of the folder of a run that stopped early.
    struct Stopped {
        QString message;         ///< for the message bar, after "Run cancelled:"
        QString interruptedDir;  ///< the folder Resume continues (finished blocks were kept); empty when none
    };
    /// Keeps `runDir` for Resume when blocks were finished; removes it when it holds only the engine's bookkeeping
    /// and was made for this run (`resumed` false).
    static Stopped keepOrRemove(const QString& runDir, bool resumed);
};

}  // namespace aq::gui
