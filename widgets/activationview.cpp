#include "activationview.h"

#include "plotexport.h"
#include "plotstyle.h"
#include "replotcoalescer.h"

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <numeric>

namespace aq::widgets {

namespace {

QVector<int> outliers(const QVector<double>& values, double factor)
{
    QVector<int> r;
    const double med = plotstyle::median(values);
    if (med <= 0)
        return r;
    for (int i = 0; i < values.size(); ++i)
        if (values[i] > factor * med)
            r.push_back(i);
    return r;
}

}  // namespace

ActivationView::ActivationView(QWidget* parent) : QWidget(parent)
{
    m_plot = new QCustomPlot(this);
    m_plot->setInteractions(QCP::iRangeZoom | QCP::iRangeDrag);
    m_plot->xAxis->setLabel(tr("channel"));
    m_plot->yAxis->setLabel(tr("abs-max over calibration tokens"));
    m_before = m_plot->addGraph();
    m_before->setName(tr("before the transform"));
    m_before->setPen(QPen(plotstyle::seriesColor(1), 1));
    m_before->setLineStyle(QCPGraph::lsImpulse);
    m_after = m_plot->addGraph();
    m_after->setName(tr("after the transform"));
    m_after->setPen(QPen(plotstyle::seriesColor(0), 1));
    m_after->setLineStyle(QCPGraph::lsImpulse);
    m_outlierMarks = m_plot->addGraph();
    m_outlierMarks->setName(tr("outlier channel (before)"));
    m_outlierMarks->setLineStyle(QCPGraph::lsNone);
    m_outlierMarks->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(plotstyle::warningColor(), 1.5), Qt::NoBrush, 7));
    m_plot->legend->setVisible(true);
    m_plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    m_replot = new ReplotCoalescer(m_plot, {}, this);
    new PlotExporter(m_plot, QStringLiteral("activations"), [this] { m_replot->flushNow(); });

    m_blockBox = new QComboBox(this);
    m_blockBox->setToolTip(tr("Transformer block."));
    m_siteBox = new QComboBox(this);
    m_siteBox->setToolTip(tr("Where the activations are measured: qkv is the input of the q/k/v projections, fc1 "
                             "the input of the MLP, out the input of the output projection."));
    m_logBox = new QCheckBox(tr("&Logarithmic axis"), this);
    m_logBox->setChecked(true);
    m_summary = new QLabel(this);
    m_summary->setTextFormat(Qt::PlainText);
    m_summary->setWordWrap(true);

    auto* pickers = new QHBoxLayout;
    pickers->addWidget(new QLabel(tr("Block:"), this));
    pickers->addWidget(m_blockBox);
    pickers->addWidget(new QLabel(tr("Site:"), this));
    pickers->addWidget(m_siteBox);
    pickers->addWidget(m_logBox);
    pickers->addStretch(1);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(pickers);
    layout->addWidget(m_plot, 1);
    layout->addWidget(m_summary);

    connect(m_blockBox, &QComboBox::currentIndexChanged, this, &ActivationView::render);
    connect(m_siteBox, &QComboBox::currentIndexChanged, this, &ActivationView::render);
    connect(m_logBox, &QCheckBox::toggled, this, &ActivationView::setLogScale);
    plotstyle::setLogScale(m_plot->yAxis, true);
    render();
}

void ActivationView::addProfile(const ActivationProfileData& profile)
{
    const bool first = m_profiles.isEmpty();
    m_profiles.insert(Key(profile.block, profile.site), profile);
    {
        const QSignalBlocker b1(m_blockBox);
        const QSignalBlocker b2(m_siteBox);
        plotstyle::addSortedItem(m_blockBox, QString::number(profile.block), profile.block);
        if (m_siteBox->findText(profile.site) < 0)
            m_siteBox->addItem(profile.site);
    }
    if (first)
        select(profile.block, profile.site);
    else if (profile.block == currentBlock() && profile.site == currentSite())
        render();
}

void ActivationView::clear()
{
    m_profiles.clear();
    {
        const QSignalBlocker b1(m_blockBox);
        const QSignalBlocker b2(m_siteBox);
        m_blockBox->clear();
        m_siteBox->clear();
    }
    render();
}

void ActivationView::select(int block, const QString& site)
{
    {
        const QSignalBlocker b1(m_blockBox);
        const QSignalBlocker b2(m_siteBox);
        m_blockBox->setCurrentIndex(m_blockBox->findData(block));
        m_siteBox->setCurrentIndex(m_siteBox->findText(site));
    }
    render();
}

int ActivationView::currentBlock() const
{
    return m_blockBox->currentIndex() < 0 ? -1 : m_blockBox->currentData().toInt();
}

QString ActivationView::currentSite() const { return m_siteBox->currentText(); }

void ActivationView::setOutlierFactor(double factor)
{
    m_outlierFactor = factor;
    render();
}

void ActivationView::setLogScale(bool logarithmic)
{
    if (m_logBox->isChecked() != logarithmic) {
        m_logBox->setChecked(logarithmic);
        return;
    }
    plotstyle::setLogScale(m_plot->yAxis, logarithmic);
    render();
}

void ActivationView::render()
{
    m_before->data()->clear();
    m_after->data()->clear();
    m_outlierMarks->data()->clear();
    m_outliersBefore.clear();
    m_outliersAfter.clear();
    const auto it = m_profiles.constFind(Key(currentBlock(), currentSite()));
    if (it == m_profiles.constEnd()) {
        m_summary->setText(m_profiles.isEmpty() ? tr("No activation profile yet: one arrives per block and site once "
                                                     "the block is calibrated.")
                                                : tr("No profile for this block and site."));
        m_replot->request();
        return;
    }
    const ActivationProfileData& p = it.value();
    QVector<double> channels(std::max(p.absMaxBefore.size(), p.absMaxAfter.size()));
    std::iota(channels.begin(), channels.end(), 0.0);
    m_before->setData(channels.mid(0, p.absMaxBefore.size()), p.absMaxBefore, true);
    m_after->setData(channels.mid(0, p.absMaxAfter.size()), p.absMaxAfter, true);
    m_outliersBefore = outliers(p.absMaxBefore, m_outlierFactor);
    m_outliersAfter = outliers(p.absMaxAfter, m_outlierFactor);
    QVector<double> ox, oy;
    for (int c : std::as_const(m_outliersBefore)) {
        ox.push_back(c);
        oy.push_back(p.absMaxBefore[c]);
    }
    m_outlierMarks->setData(ox, oy, true);
    m_plot->rescaleAxes();
    m_plot->xAxis->setRange(-1, std::max<qsizetype>(channels.size(), 1));
    if (m_logBox->isChecked())
        m_plot->yAxis->scaleRange(1.5, m_plot->yAxis->range().center());
    else
        m_plot->yAxis->setRange(0, m_plot->yAxis->range().upper * 1.1);

    auto ratio = [](const QVector<double>& v) {
        const double med = plotstyle::median(v);
        const double mx = v.isEmpty() ? 0 : *std::max_element(v.begin(), v.end());
        return med > 0 ? mx / med : 0.0;
    };
    m_summary->setText(tr("Outlier channels (abs-max above %1x the median): %2 before, %3 after. Largest / median: "
                          "%4 before, %5 after.")
                           .arg(m_outlierFactor)
                           .arg(m_outliersBefore.size())
                           .arg(m_outliersAfter.size())
                           .arg(ratio(p.absMaxBefore), 0, 'f', 1)
                           .arg(ratio(p.absMaxAfter), 0, 'f', 1));
    m_replot->request();
}

}  // namespace aq::widgets
