#include "coreconvert.h"

namespace aq::gui {

namespace {

template <typename T>
QVector<double> toDoubles(const std::vector<T>& v)
{
    return QVector<double>(v.begin(), v.end());
}

QString qs(const std::string& s) { return QString::fromStdString(s); }

}  // namespace

aq::widgets::MatrixFrame toMatrixFrame(const aq::MatrixSnapshot& m)
{
    aq::widgets::MatrixFrame f;
    f.block = m.block;
    f.epoch = m.epoch;
    f.transform = QString::fromLatin1(aq::siteName(m.transform));
    f.rows = int(m.rows);
    f.cols = int(m.cols);
    f.stride = int(m.stride);
    f.values = QVector<float>(m.values.begin(), m.values.end());
    f.mask = QVector<float>(m.mask.begin(), m.mask.end());
    return f;
}

aq::widgets::ActivationProfileData toActivationProfile(const aq::ActivationProfile& a)
{
    aq::widgets::ActivationProfileData r{
        a.block, QString::fromLatin1(aq::siteName(a.site)), toDoubles(a.absMaxBefore), toDoubles(a.absMaxAfter), {}};
    for (const auto& layer : a.layers)
        r.layers.push_back(qs(layer));
    return r;
}

aq::widgets::WeightHistogramData toWeightHistogram(const aq::WeightHistogram& h)
{
    aq::widgets::WeightHistogramData r;
    r.block = h.block;
    r.layer = qs(h.layer);
    r.binEdges = toDoubles(h.binEdges);
    r.counts = toDoubles(h.counts);
    r.clipLow = h.clipLow;
    r.clipHigh = h.clipHigh;
    r.gridLevels = toDoubles(h.grid);
    r.clipLowMin = h.clipLowMin;
    r.clipLowMax = h.clipLowMax;
    r.clipHighMin = h.clipHighMin;
    r.clipHighMax = h.clipHighMax;
    r.clippedBelow = h.clippedBelow;
    r.clippedAbove = h.clippedAbove;
    return r;
}

}  // namespace aq::gui
