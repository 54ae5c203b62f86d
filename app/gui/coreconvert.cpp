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

StepLossPoint toStepLoss(const aq::StepLoss& s) { return {s.block, s.epoch, s.step, s.loss}; }

EpochInfo toEpochInfo(const aq::EpochSummary& e)
{
    return {e.block,   e.epoch,          e.epochs, e.meanLoss, e.seconds, qint64(e.bandWidth),
            toDoubles(e.rankWindowsPerSecond)};
}

MatrixDiagnosticsInfo toDiagnostics(const aq::MatrixDiagnostics& d)
{
    MatrixDiagnosticsInfo r;
    r.block = d.block;
    r.epoch = d.epoch;
    r.transform = qs(d.transform);
    r.size = d.size;
    r.rowMargins = QVector<float>(d.rowMargins.begin(), d.rowMargins.end());
    r.minMargin = d.minMargin;
    r.medianMargin = d.medianMargin;
    r.nonDominantRows = d.nonDominantRows;
    r.conditionEstimate = d.conditionEstimate;
    r.bandWidth = d.bandWidth;
    return r;
}

aq::widgets::MatrixFrame toMatrixFrame(const aq::MatrixSnapshot& m)
{
    aq::widgets::MatrixFrame f;
    f.block = m.block;
    f.epoch = m.epoch;
    f.transform = qs(m.transform);
    f.rows = int(m.rows);
    f.cols = int(m.cols);
    f.stride = int(m.stride);
    f.values = QVector<float>(m.values.begin(), m.values.end());
    f.mask = QVector<float>(m.mask.begin(), m.mask.end());
    return f;
}

aq::widgets::ActivationProfileData toActivationProfile(const aq::ActivationProfile& a)
{
    aq::widgets::ActivationProfileData r{a.block, qs(a.site), toDoubles(a.absMaxBefore), toDoubles(a.absMaxAfter), {}};
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

RecoveryInfo toRecovery(const aq::Recovery& r) { return {r.block, r.epoch, qs(r.reason), qs(r.action)}; }

BlockInfo toBlockInfo(const aq::BlockSummary& b)
{
    BlockInfo r{b.block, b.numBlocks, b.initialLoss, b.finalLoss, b.seconds, {}};
    for (const std::string& layer : b.perChannelFallback)
        r.perChannelFallback << qs(layer);
    return r;
}

RunOutcome toRunOutcome(const aq::CalibrationResult& r)
{
    return {qs(r.runDir),         qs(r.modelDir),     r.fpPerplexity, r.rtnPerplexity,
            r.quantPerplexity,    r.seconds,          r.recoveries};
}

}  // namespace aq::gui
