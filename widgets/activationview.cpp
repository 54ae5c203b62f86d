// The activation view: per-channel abs-max plots of one block and site and the outlier table of all of them.
#include "activationview.h"

#include "outliertable.h"
#include "blockpicker.h"
#include "plotexport.h"
#include "plotstyle.h"
#include "replotcoalescer.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTableView>
#include <QToolTip>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>
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

/// Position of a site in the block, for the site picker and for sorting the table.
int siteOrder(const QString& site)
{
    static const QStringList order = {QStringLiteral("qkv"), QStringLiteral("out"), QStringLiteral("fc1"),
                                      QStringLiteral("down")};
    const int i = order.indexOf(site);
    return i < 0 ? order.size() : i;
}

/// "self_attn.q_proj / k_proj / v_proj": the first name in full (as the Weights tab lists it), the others without
/// the module path they share with it.
QString joinLayers(const QStringList& layers)
{
    if (layers.isEmpty())
        return {};
    const QString& first = layers.first();
    const QString prefix = first.left(first.lastIndexOf(QLatin1Char('.')) + 1);
    QStringList parts{first};
    for (int i = 1; i < layers.size(); ++i)
        parts.push_back(!prefix.isEmpty() && layers[i].startsWith(prefix) ? layers[i].mid(prefix.size()) : layers[i]);
    return parts.join(QStringLiteral(" / "));
}

/// Names for profiles that do not say which linears read them (LLaMA's, the most common family).
QString defaultSiteLabel(const QString& site)
{
    if (site == QLatin1String("qkv"))
        return QStringLiteral("q_proj / k_proj / v_proj");
    if (site == QLatin1String("out"))
        return QStringLiteral("o_proj");
    if (site == QLatin1String("fc1"))
        return QStringLiteral("up_proj / gate_proj");
    if (site == QLatin1String("down"))
        return QStringLiteral("down_proj");
    return site;
}

/// Base-10 log ticks that stay readable on short ranges and below 1: over less than three and a half decades the 2s
/// and 5s are labelled too (so 0.2 ... 0.9 still has labels), plain numbers instead of exponents down to 1e-4.
class LogTicker : public QCPAxisTicker {
public:
    void generate(const QCPRange& range, const QLocale& locale, QChar formatChar, int precision,
                  QVector<double>& ticks, QVector<double>* subTicks, QVector<QString>* tickLabels) override
    {
        ticks.clear();
        if (subTicks)
            subTicks->clear();
        if (tickLabels)
            tickLabels->clear();
        const double lo = range.lower, hi = range.upper;
        if (!(lo > 0) || !(hi > lo))
            return;
        const double decades = std::log10(hi / lo);
        const bool fine = decades <= 3.5;
        const int every = decades > 8 ? int(std::ceil(decades / 8)) : 1;  // at most about 8 labelled decades
        for (int e = int(std::floor(std::log10(lo))); e <= int(std::ceil(std::log10(hi))); ++e) {
            const double p = std::pow(10.0, e);
            for (int m = 1; m <= 9; ++m) {
                const double v = m * p;
                if (v < lo || v > hi)
                    continue;
                const bool major = m == 1 ? e % every == 0 : fine && (m == 2 || m == 5);
                if (major)
                    ticks.push_back(v);
                else if (subTicks && every == 1)
                    subTicks->push_back(v);
            }
        }
        if (ticks.size() < 2) {  // a range inside one 1-2-5 step: linear ticks read better there
            QCPAxisTicker::generate(range, locale, formatChar, precision, ticks, subTicks, tickLabels);
            return;
        }
        if (tickLabels)
            for (double v : std::as_const(ticks))
                tickLabels->push_back(v >= 1e-4 && v < 1e6 ? locale.toString(v, 'g', 6) : locale.toString(v, 'g', 2));
    }
};

void setYScale(QCPAxis* axis, bool logarithmic)
{
    plotstyle::setLogScale(axis, logarithmic);
    if (logarithmic)
        axis->setTicker(QSharedPointer<QCPAxisTicker>(new LogTicker));
}

/// Scatter marks at the channels `at` of the values `v`.
void setMarks(QCPGraph* g, const QVector<int>& at, const QVector<double>& v)
{
    QVector<double> x, y;
    for (int c : at) {
        x.push_back(c);
        y.push_back(v[c]);
    }
    g->setData(x, y, true);
}

/// Largest value over the median (0 when the median is not positive).
double largestOverMedian(const QVector<double>& v)
{
    const double med = plotstyle::median(v);
    const double mx = v.isEmpty() ? 0 : *std::max_element(v.begin(), v.end());
    return med > 0 ? mx / med : 0.0;
}

}  // namespace

ActivationView::ActivationView(QWidget* parent) : QWidget(parent)
{
    createPlot();
    placeLegend();
    setUpPlotOutput();
    createPickers();
    createOutlierTable();
    layOut();
    connectControls();
    setYScale(m_plot->yAxis, true);
    rebuildRows(true);
    render();
}

void ActivationView::createPlot()
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
    m_thresholdLine = m_plot->addGraph();
    m_thresholdLine->setName(tr("outlier threshold (before)"));
    m_thresholdLine->setPen(QPen(plotstyle::seriesColor(1), 1, Qt::DashLine));
    m_thresholdAfterLine = m_plot->addGraph();
    m_thresholdAfterLine->setName(tr("outlier threshold (after)"));
    m_thresholdAfterLine->setPen(QPen(plotstyle::seriesColor(0), 1, Qt::DashLine));
    m_outlierMarks = m_plot->addGraph();
    m_outlierMarks->setName(tr("outlier channel (before)"));
    m_outlierMarks->setLineStyle(QCPGraph::lsNone);
    m_outlierMarks->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(plotstyle::warningColor(), 1.5), Qt::NoBrush, 7));
    m_outlierAfterMarks = m_plot->addGraph();
    m_outlierAfterMarks->setName(tr("outlier channel (after)"));
    m_outlierAfterMarks->setLineStyle(QCPGraph::lsNone);
    m_outlierAfterMarks->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssCross, QPen(plotstyle::warningColor(), 1.5), Qt::NoBrush, 7));
    m_markLine = new QCPItemStraightLine(m_plot);
    m_markLine->setPen(QPen(QColor(90, 90, 90), 1, Qt::DotLine));
    m_markLine->setVisible(false);
}

void ActivationView::placeLegend()
{
    // The legend sits in a row of its own above the axis rect, so it never covers a bar.
    m_plot->plotLayout()->insertRow(0);
    m_plot->plotLayout()->addElement(0, 0, m_plot->legend);
    m_plot->plotLayout()->setRowStretchFactor(0, 0.001);
    m_plot->legend->setVisible(true);
    m_plot->legend->setWrap(3);  // before the fill order, which rearranges the items by it
    m_plot->legend->setFillOrder(QCPLegend::foColumnsFirst);
    m_plot->legend->setBorderPen(Qt::NoPen);
    m_plot->legend->setMargins(QMargins(4, 2, 4, 2));
}

void ActivationView::setUpPlotOutput()
{
    m_replot = new ReplotCoalescer(m_plot, {}, this);
    new PlotExporter(m_plot, QStringLiteral("activations"), [this] { m_replot->flushNow(); });
    m_plot->setMouseTracking(true);
    connect(m_plot, &QCustomPlot::mouseMove, this, &ActivationView::onPlotMouseMove);
}

void ActivationView::createPickers()
{
    m_blockBox = new BlockPicker(this);
    m_siteBox = new QComboBox(this);
    m_siteBox->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    m_siteBox->setToolTip(tr("Where the activations are measured: the input of the named linear layers (as in the "
                             "Weights tab). The input of down_proj (fc2) is not transformed: its \"after\" is the "
                             "merged quantized block's."));
    m_logBox = new QCheckBox(tr("&Logarithmic axis"), this);
    m_logBox->setChecked(true);
    m_thresholdBox = new QDoubleSpinBox(this);
    m_thresholdBox->setRange(1.0, 10000.0);
    m_thresholdBox->setDecimals(1);
    m_thresholdBox->setSingleStep(1.0);
    m_thresholdBox->setValue(m_outlierFactor);
    m_thresholdBox->setSuffix(tr("× median"));
    m_thresholdBox->setToolTip(tr("A channel is an outlier when its abs-max exceeds this multiple of the median "
                                  "abs-max over the channels of its block and site."));
    m_summary = new QLabel(this);
    m_summary->setTextFormat(Qt::PlainText);
    m_summary->setWordWrap(true);
}

void ActivationView::createOutlierTable()
{
    m_model = new OutlierTableModel(this);
    m_proxy = new QSortFilterProxyModel(this);
    m_proxy->setSourceModel(m_model);
    m_proxy->setSortRole(OutlierTableModel::SortRole);
    m_table = new QTableView(this);
    m_table->setModel(m_proxy);
    m_table->setSortingEnabled(true);
    m_table->sortByColumn(OutlierTableModel::ColRatioBefore, Qt::DescendingOrder);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setAlternatingRowColors(true);
    m_table->verticalHeader()->setVisible(false);
    m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 6);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->setToolTip(tr("Outlier channels of every block and site. Click a column header to sort, a row to show "
                           "the channel in the plot."));
    m_tableSummary = new QLabel(this);
    m_tableSummary->setTextFormat(Qt::PlainText);
    m_tableSummary->setWordWrap(true);
}

/// The pickers in a row above a splitter of the plot (with its summary) over the outlier table.
void ActivationView::layOut()
{
    QHBoxLayout* pickers = layOutPickers();
    QSplitter* splitter = layOutPanes();
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(pickers);
    layout->addWidget(splitter, 1);
}

QHBoxLayout* ActivationView::layOutPickers()
{
    auto* pickers = new QHBoxLayout;
    pickers->addWidget(new QLabel(tr("Block:"), this));
    pickers->addWidget(m_blockBox);
    pickers->addWidget(new QLabel(tr("Input of:"), this));
    pickers->addWidget(m_siteBox);
    pickers->addWidget(m_logBox);
    auto* thresholdLabel = new QLabel(tr("Outlier &threshold:"), this);
    thresholdLabel->setBuddy(m_thresholdBox);
    pickers->addSpacing(12);
    pickers->addWidget(thresholdLabel);
    pickers->addWidget(m_thresholdBox);
    pickers->addStretch(1);
    return pickers;
}

QSplitter* ActivationView::layOutPanes()
{
    auto* plotPane = new QWidget(this);
    auto* plotLayout = new QVBoxLayout(plotPane);
    plotLayout->setContentsMargins(0, 0, 0, 0);
    plotLayout->addWidget(m_plot, 1);
    plotLayout->addWidget(m_summary);
    auto* tablePane = new QWidget(this);
    auto* tableLayout = new QVBoxLayout(tablePane);
    tableLayout->setContentsMargins(0, 0, 0, 0);
    tableLayout->addWidget(m_tableSummary);
    tableLayout->addWidget(m_table, 1);
    auto* splitter = new QSplitter(Qt::Vertical, this);
    splitter->setChildrenCollapsible(false);
    splitter->addWidget(plotPane);
    splitter->addWidget(tablePane);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);
    // The table's size hint asks for most of the height; the plot comes first, the table scrolls.
    m_table->setMinimumHeight(4 * m_table->verticalHeader()->defaultSectionSize());
    splitter->setSizes({650, 300});
    return splitter;
}

void ActivationView::connectControls()
{
    connect(m_blockBox, &QComboBox::currentIndexChanged, this, [this] {
        m_markedChannel = -1;
        render();
    });
    connect(m_siteBox, &QComboBox::currentIndexChanged, this, [this] {
        m_markedChannel = -1;
        render();
    });
    connect(m_logBox, &QCheckBox::toggled, this, &ActivationView::setLogScale);
    connect(m_thresholdBox, &QDoubleSpinBox::valueChanged, this, &ActivationView::setOutlierFactor);
    connect(m_table, &QTableView::clicked, this, &ActivationView::onTableRowActivated);
    connect(m_table->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex& current) { onTableRowActivated(current); });
}

QString ActivationView::siteLabel(const QString& site) const
{
    return m_siteLabels.value(site, defaultSiteLabel(site));
}

void ActivationView::addProfile(const ActivationProfileData& profile)
{
    const bool first = m_profiles.isEmpty();
    m_profiles.insert(Key(profile.block, profile.site), profile);
    if (!profile.layers.isEmpty())
        m_siteLabels.insert(profile.site, joinLayers(profile.layers));
    {
        const QSignalBlocker b1(m_blockBox);
        const QSignalBlocker b2(m_siteBox);
        m_blockBox->addBlock(profile.block);
        const int at = m_siteBox->findData(profile.site);
        if (at >= 0) {
            m_siteBox->setItemText(at, siteLabel(profile.site));
        } else {
            int pos = 0;
            while (pos < m_siteBox->count() && siteOrder(m_siteBox->itemData(pos).toString()) <= siteOrder(profile.site))
                ++pos;
            m_siteBox->insertItem(pos, siteLabel(profile.site), profile.site);
        }
    }
    updateRowsOf(profile);
    if (first)
        select(profile.block, profile.site);
    else if (profile.block == currentBlock() && profile.site == currentSite())
        render();
}

void ActivationView::clear()
{
    m_profiles.clear();
    m_siteLabels.clear();
    m_markedChannel = -1;
    {
        const QSignalBlocker b1(m_blockBox);
        const QSignalBlocker b2(m_siteBox);
        m_blockBox->clear();
        m_siteBox->clear();
    }
    rebuildRows(true);
    render();
}

void ActivationView::select(int block, const QString& site)
{
    showChannel(block, site, -1);
}

void ActivationView::showChannel(int block, const QString& site, int channel)
{
    {
        const QSignalBlocker b1(m_blockBox);
        const QSignalBlocker b2(m_siteBox);
        m_blockBox->setCurrentBlock(block);
        m_siteBox->setCurrentIndex(m_siteBox->findData(site));
    }
    m_markedChannel = channel;
    render();
}

int ActivationView::currentBlock() const
{
    return m_blockBox->currentBlock();
}

QString ActivationView::currentSite() const { return m_siteBox->currentData().toString(); }

void ActivationView::setOutlierFactor(double factor)
{
    if (factor == m_outlierFactor)
        return;
    m_outlierFactor = factor;
    {
        const QSignalBlocker b(m_thresholdBox);
        m_thresholdBox->setValue(factor);
    }
    m_model->setThreshold(factor);
    rebuildRows(true);
    render();
}

void ActivationView::setLogScale(bool logarithmic)
{
    if (m_logBox->isChecked() != logarithmic) {
        m_logBox->setChecked(logarithmic);
        return;
    }
    setYScale(m_plot->yAxis, logarithmic);
    render();
}

namespace {

QVector<OutlierRow> outlierRows(const ActivationProfileData& p, const QString& label, double factor)
{
    QVector<OutlierRow> rows;
    const double medBefore = plotstyle::median(p.absMaxBefore);
    const double medAfter = plotstyle::median(p.absMaxAfter);
    const int n = int(std::max(p.absMaxBefore.size(), p.absMaxAfter.size()));
    for (int c = 0; c < n; ++c) {
        OutlierRow r;
        r.block = p.block;
        r.site = p.site;
        r.siteLabel = label;
        r.siteOrder = siteOrder(p.site);
        r.channel = c;
        r.before = c < p.absMaxBefore.size() ? p.absMaxBefore[c] : 0.0;
        r.after = c < p.absMaxAfter.size() ? p.absMaxAfter[c] : 0.0;
        r.ratioBefore = medBefore > 0 ? r.before / medBefore : 0.0;
        r.ratioAfter = medAfter > 0 ? r.after / medAfter : 0.0;
        if (r.ratioBefore > factor || r.ratioAfter > factor)
            rows.push_back(r);
    }
    return rows;
}

}  // namespace

void ActivationView::updateRowsOf(const ActivationProfileData& profile)
{
    m_rowCache.remove(Key(profile.block, profile.site));
    m_model->setRowsOf(profile.block, profile.site, outlierRows(profile, siteLabel(profile.site), m_outlierFactor));
    rebuildRows(false);  // the site's name may have changed, and the summary counts change
}

void ActivationView::rebuildRows(bool reset)
{
    // Without `reset`, only the summary unless the rows' names went stale: a reset loses the table's selection.
    bool stale = reset;
    for (int i = 0; i < m_model->rowCount() && !stale; ++i)
        stale = m_model->outlierRow(i).siteLabel != siteLabel(m_model->outlierRow(i).site);
    if (stale)
        m_rowCache.clear();
    int expected = 0;
    QVector<OutlierRow> rows;
    for (auto it = m_profiles.cbegin(); it != m_profiles.cend(); ++it) {
        auto cached = m_rowCache.find(it.key());
        if (cached == m_rowCache.end())
            cached = m_rowCache.insert(it.key(), outlierRows(it.value(), siteLabel(it.key().second), m_outlierFactor));
        expected += cached->size();
        rows += *cached;
    }
    if (stale || expected != m_model->rowCount())
        m_model->resetRows(rows);
    const int before = int(std::count_if(rows.cbegin(), rows.cend(),
                                         [&](const OutlierRow& r) { return r.ratioBefore > m_outlierFactor; }));
    const int after = int(std::count_if(rows.cbegin(), rows.cend(),
                                        [&](const OutlierRow& r) { return r.ratioAfter > m_outlierFactor; }));
    m_tableSummary->setText(
        m_profiles.isEmpty()
            ? tr("Outlier channels of all blocks and sites are listed here once profiles arrive.")
            : tr("All blocks and sites (%1 profiles): %2 outlier channels before the transforms, %3 after "
                 "(abs-max above %4× the median of their site). Click a row to show it in the plot.")
                  .arg(m_profiles.size())
                  .arg(before)
                  .arg(after)
                  .arg(QLocale().toString(m_outlierFactor, 'g', 4)));
}

void ActivationView::onTableRowActivated(const QModelIndex& proxyIndex)
{
    if (!proxyIndex.isValid())
        return;
    const QModelIndex source = m_proxy->mapToSource(proxyIndex);
    if (!source.isValid())
        return;
    const OutlierRow& r = m_model->outlierRow(source.row());
    showChannel(r.block, r.site, r.channel);
}

void ActivationView::onPlotMouseMove(QMouseEvent* event)
{
    const auto it = m_profiles.constFind(Key(currentBlock(), currentSite()));
    const QPointF pos = event->position();
    int channel = -1;
    if (it != m_profiles.constEnd() && m_plot->axisRect()->rect().contains(pos.toPoint())) {
        const int c = int(std::lround(m_plot->xAxis->pixelToCoord(pos.x())));
        const int n = int(std::max(it->absMaxBefore.size(), it->absMaxAfter.size()));
        if (c >= 0 && c < n)
            channel = c;
    }
    if (channel < 0) {
        m_hoverChannel = -1;
        m_hoverText.clear();
        QToolTip::hideText();
        return;
    }
    const ActivationProfileData& p = it.value();
    const QLocale locale;
    auto readout = [&](const QVector<double>& v) {
        if (channel >= v.size())
            return tr("none");
        const double med = plotstyle::median(v);
        return med > 0 ? tr("%1 (%2× the median)").arg(locale.toString(v[channel], 'g', 4),
                                                        locale.toString(v[channel] / med, 'f', 1))
                       : locale.toString(v[channel], 'g', 4);
    };
    m_hoverChannel = channel;
    m_hoverText = tr("Block %1, input of %2, channel %3\nbefore: %4\nafter: %5")
                      .arg(p.block)
                      .arg(siteLabel(p.site))
                      .arg(channel)
                      .arg(readout(p.absMaxBefore), readout(p.absMaxAfter));
    QToolTip::showText(event->globalPosition().toPoint(), m_hoverText, m_plot);
}

void ActivationView::render()
{
    clearPlot();
    const auto it = m_profiles.constFind(Key(currentBlock(), currentSite()));
    if (it == m_profiles.constEnd()) {
        m_summary->setText(m_profiles.isEmpty() ? tr("No activation profile yet: one arrives per block and site once "
                                                     "the block is calibrated.")
                                                : tr("No profile for this block and site."));
        m_replot->request();
        return;
    }
    const ActivationProfileData& p = it.value();
    const int n = int(std::max(p.absMaxBefore.size(), p.absMaxAfter.size()));
    plotBars(p, n);
    markOutliers(p);
    const double medBefore = plotstyle::median(p.absMaxBefore);
    const double medAfter = plotstyle::median(p.absMaxAfter);
    drawThresholds(n, medBefore, medAfter);
    fitRanges(p, n, medBefore, medAfter);
    markChannel(n);
    m_summary->setText(summaryText(p, n));
    m_replot->request();
}

void ActivationView::clearPlot()
{
    m_before->data()->clear();
    m_after->data()->clear();
    m_outlierMarks->data()->clear();
    m_outlierAfterMarks->data()->clear();
    m_thresholdLine->data()->clear();
    m_thresholdAfterLine->data()->clear();
    m_markLine->setVisible(false);
    m_outliersBefore.clear();
    m_outliersAfter.clear();
}

void ActivationView::plotBars(const ActivationProfileData& p, int n)
{
    QVector<double> channels(n);
    std::iota(channels.begin(), channels.end(), 0.0);
    m_before->setData(channels.mid(0, p.absMaxBefore.size()), p.absMaxBefore, true);
    m_after->setData(channels.mid(0, p.absMaxAfter.size()), p.absMaxAfter, true);
}

void ActivationView::markOutliers(const ActivationProfileData& p)
{
    m_outliersBefore = outliers(p.absMaxBefore, m_outlierFactor);
    m_outliersAfter = outliers(p.absMaxAfter, m_outlierFactor);
    setMarks(m_outlierMarks, m_outliersBefore, p.absMaxBefore);
    setMarks(m_outlierAfterMarks, m_outliersAfter, p.absMaxAfter);
}

void ActivationView::drawThresholds(int n, double medBefore, double medAfter)
{
    if (medBefore > 0)
        m_thresholdLine->setData({-1.0, double(n)}, {m_outlierFactor * medBefore, m_outlierFactor * medBefore}, true);
    if (medAfter > 0)
        m_thresholdAfterLine->setData({-1.0, double(n)}, {m_outlierFactor * medAfter, m_outlierFactor * medAfter}, true);
}

void ActivationView::fitRanges(const ActivationProfileData& p, int n, double medBefore, double medAfter)
{
    // The y range covers the bars and both thresholds; on the log axis it starts below the smallest positive value
    // (a channel that is always zero has no place there).
    double lo = std::numeric_limits<double>::infinity(), hi = 0;
    for (const QVector<double>* v : {&p.absMaxBefore, &p.absMaxAfter})
        for (double x : *v)
            if (x > 0) {
                lo = std::min(lo, x);
                hi = std::max(hi, x);
            }
    hi = std::max({hi, m_outlierFactor * medBefore, m_outlierFactor * medAfter});
    m_plot->xAxis->setRange(-1, std::max(n, 1));
    if (hi <= 0)
        m_plot->yAxis->setRange(m_logBox->isChecked() ? QCPRange(0.1, 10) : QCPRange(0, 1));
    else if (m_logBox->isChecked())
        m_plot->yAxis->setRange(lo / 1.5, hi * 1.5);
    else
        m_plot->yAxis->setRange(0, hi * 1.1);
}

/// The dotted line at the marked channel, if it is one of the `n` shown.
void ActivationView::markChannel(int n)
{
    if (m_markedChannel >= 0 && m_markedChannel < n) {
        m_markLine->point1->setCoords(m_markedChannel, 0);
        m_markLine->point2->setCoords(m_markedChannel, 1);
        m_markLine->setVisible(true);
        // Among thousands of channels one bar is a hairline: zoom to its neighbourhood.
        if (n > 512)
            m_plot->xAxis->setRange(m_markedChannel - 64, m_markedChannel + 64);
    }
}

QString ActivationView::summaryText(const ActivationProfileData& p, int n) const
{
    QString text = tr("Outlier channels (abs-max above %1x the median): %2 before, %3 after. Largest / median: "
                      "%4 before, %5 after.")
                       .arg(m_outlierFactor)
                       .arg(m_outliersBefore.size())
                       .arg(m_outliersAfter.size())
                       .arg(largestOverMedian(p.absMaxBefore), 0, 'f', 1)
                       .arg(largestOverMedian(p.absMaxAfter), 0, 'f', 1);
    if (m_markedChannel >= 0 && m_markedChannel < n) {
        const QLocale locale;
        text += QLatin1Char(' ')
                + tr("Channel %1 (dotted line): %2 before, %3 after.")
                      .arg(m_markedChannel)
                      .arg(locale.toString(m_markedChannel < p.absMaxBefore.size() ? p.absMaxBefore[m_markedChannel] : 0.0, 'g', 4),
                           locale.toString(m_markedChannel < p.absMaxAfter.size() ? p.absMaxAfter[m_markedChannel] : 0.0, 'g', 4));
    }
    return text;
}

}  // namespace aq::widgets
