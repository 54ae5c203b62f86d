#pragma once
// Per-channel abs-max of the activations entering a transform site, before and after the transform: outlier
// channels (far above the median) are what makes activation quantization hard and what the transforms remove.
#include "viewdata.h"

#include <QHash>
#include <QPair>
#include <QWidget>

class QCPGraph;
class QCheckBox;
class QComboBox;
class QCustomPlot;
class QLabel;

namespace aq::widgets {

class ReplotCoalescer;

class ActivationView : public QWidget {
    Q_OBJECT
public:
    explicit ActivationView(QWidget* parent = nullptr);

    /// Stores the profile of a block and site (replacing an earlier one) and shows it if nothing else is shown or it
    /// belongs to the selection.
    void addProfile(const ActivationProfileData& profile);
    void clear();
    void select(int block, const QString& site);
    int currentBlock() const;
    QString currentSite() const;

    /// A channel is an outlier when its abs-max exceeds `factor` times the median over channels (default 6).
    void setOutlierFactor(double factor);
    double outlierFactor() const { return m_outlierFactor; }
    /// Outlier channels of the shown profile, before and after the transform.
    QVector<int> outliersBefore() const { return m_outliersBefore; }
    QVector<int> outliersAfter() const { return m_outliersAfter; }

    void setLogScale(bool logarithmic);

    QCustomPlot* plot() const { return m_plot; }
    QCPGraph* beforeGraph() const { return m_before; }
    QCPGraph* afterGraph() const { return m_after; }
    QCPGraph* outlierGraph() const { return m_outlierMarks; }
    ReplotCoalescer* replotCoalescer() const { return m_replot; }

private:
    using Key = QPair<int, QString>;
    void render();

    QCustomPlot* m_plot = nullptr;
    QCPGraph* m_before = nullptr;
    QCPGraph* m_after = nullptr;
    QCPGraph* m_outlierMarks = nullptr;
    QComboBox* m_blockBox = nullptr;
    QComboBox* m_siteBox = nullptr;
    QCheckBox* m_logBox = nullptr;
    QLabel* m_summary = nullptr;
    ReplotCoalescer* m_replot = nullptr;
    QHash<Key, ActivationProfileData> m_profiles;
    QVector<int> m_outliersBefore;
    QVector<int> m_outliersAfter;
    double m_outlierFactor = 6.0;
};

}  // namespace aq::widgets
