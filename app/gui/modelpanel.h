#pragma once
// Model picker: a folder field with a Browse button and a menu of recent models, and a summary of the model
// (architecture, parameters, GQA, tied embeddings, dtypes, tokenizer). Inspection runs on a pool thread, so a slow
// disk or a large checkpoint never freezes the window.
#include "aq/model_info.h"

#include <QFutureWatcher>
#include <QWidget>

#include <optional>

class QLabel;
class QLineEdit;
class QMenu;
class QToolButton;

namespace aq::gui {

class ModelPanel : public QWidget {
    Q_OBJECT
public:
    explicit ModelPanel(QWidget* parent = nullptr);
    ~ModelPanel() override;

    static constexpr int kMaxRecent = 8;

    /// Starts inspecting `dir`; modelReady() or modelFailed() follows.
    void setModelDir(const QString& dir);
    QString modelDir() const { return m_dir; }
    /// The summary of the current model, when it was inspected successfully.
    const std::optional<aq::ModelSummary>& summary() const { return m_summary; }
    bool isInspecting() const { return m_watcher.isRunning(); }

    QStringList recentModels() const { return m_recent; }
    void setRecentModels(const QStringList& dirs);
    /// The menu of recent models, for the main window's File menu.
    QMenu* recentMenu() const { return m_recentMenu; }

    /// Opens the folder dialog.
    void browse();

signals:
    void inspectionStarted(const QString& dir);
    void modelReady(const QString& dir);
    void modelFailed(const QString& dir, const QString& detail);
    void recentModelsChanged(const QStringList& dirs);

private:
    struct Inspection {
        QString dir;
        std::optional<aq::ModelSummary> summary;
        QString error;
    };

    void onInspected();
    void rememberRecent(const QString& dir);
    void rebuildRecentMenu();
    QString summaryText(const aq::ModelSummary& s) const;

    QLineEdit* m_path = nullptr;
    QToolButton* m_browse = nullptr;
    QToolButton* m_recentButton = nullptr;
    QMenu* m_recentMenu = nullptr;
    QLabel* m_summaryLabel = nullptr;
    QFutureWatcher<Inspection> m_watcher;
    QString m_dir;
    QString m_pendingDir;  ///< a folder chosen while another was being inspected
    std::optional<aq::ModelSummary> m_summary;
    QStringList m_recent;
};

/// Human-readable size: 1.5 MiB, 3.2 GiB.
QString formatBytes(double bytes);

}  // namespace aq::gui
