#pragma once
// Table of runs with their perplexities (full precision, round-to-nearest, quantized) and what makes them comparable
// (bits, group, calibration data, epochs, evaluation windows, duration, edits of the preset), fed by the caller;
// selecting a run and pressing Compare asks the caller to overlay that run's loss curves.
#include "viewdata.h"

#include <QWidget>

class QLabel;
class QPushButton;
class QStandardItemModel;
class QTableView;

namespace aq::widgets {

class ResultsView : public QWidget {
    Q_OBJECT
public:
    explicit ResultsView(QWidget* parent = nullptr);

    enum Column {
        ColName = 0,
        ColMethod,
        ColPreset,
        ColBits,
        ColGroup,
        ColSamples,
        ColEpochs,
        ColEval,
        ColFp,
        ColRtn,
        ColQuant,
        ColDuration,
        ColCount
    };

    /// Adds a run, or updates the row with the same id.
    void addRun(const RunRecord& run);
    void setRuns(const QVector<RunRecord>& runs);
    QVector<RunRecord> runs() const;
    void removeRun(const QString& id);
    void clear();
    int runCount() const;
    /// Id of the selected run, or empty.
    QString selectedRunId() const;
    void selectRun(const QString& id);

    QStandardItemModel* model() const { return m_model; }
    QTableView* table() const { return m_table; }
    /// Shown when the perplexities in the table come from different evaluation windows.
    QLabel* evaluationNote() const { return m_evalNote; }

    /// Texts of the comparability columns, as the table shows them.
    static QString presetText(const RunRecord& run);
    static QString evaluationText(const RunRecord& run);
    static QString durationText(double seconds);

signals:
    /// The user asked to overlay run `id`'s loss curves on the current ones.
    void compareRequested(const QString& id);
    void clearComparisonRequested();
    /// The user asked to forget run `id` (its files are left alone).
    void removeRequested(const QString& id);

private:
    int rowOf(const QString& id) const;
    void fillRow(int row, const RunRecord& run);
    void fitColumns();
    void updateButtons();
    void updateEvaluationNote();

    QStandardItemModel* m_model = nullptr;
    QTableView* m_table = nullptr;
    QLabel* m_evalNote = nullptr;
    QPushButton* m_compare = nullptr;
    QPushButton* m_clearCompare = nullptr;
    QPushButton* m_remove = nullptr;
};

}  // namespace aq::widgets
