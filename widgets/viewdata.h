#pragma once
// Plain value types the views are fed with. They mirror what a calibration reports, but use Qt containers and
// know nothing of the engine, so the views can be driven by synthetic data in tests.
#include <QMetaType>
#include <QString>
#include <QStringList>
#include <QVector>

namespace aq::widgets {

/// One loss curve: x is the step index inside the block, y the loss.
struct LossSeries {
    int block = 0;
    QVector<double> steps;
    QVector<double> losses;
};

/// A transform matrix and its gradual mask at one epoch, possibly downsampled (stride > 1 means each cell stands
/// for a stride x stride tile of the full matrix). Stored as float: a run keeps one frame per block, transform and
/// epoch, and halving the history matters for large models.
struct MatrixFrame {
    int block = 0;
    int epoch = 0;
    QString transform;
    int rows = 0;
    int cols = 0;
    int stride = 1;
    QVector<float> values;  ///< row-major rows * cols
    QVector<float> mask;    ///< row-major rows * cols, or empty when no mask is known
};

/// Per-channel abs-max of the activations at one transform site, before and after the transform.
struct ActivationProfileData {
    int block = 0;
    QString site;                ///< "qkv", "out", "fc1" or "down"
    QVector<double> absMaxBefore;
    QVector<double> absMaxAfter;
    QStringList layers;          ///< the linears reading these activations ("self_attn.q_proj", ...); may be empty
};

/// Histogram of one weight with its clipping bounds and quantization grid. Every row (or group) of the weight has
/// clipping bounds of its own; clipLow/clipHigh and gridLevels are the first row's/group's, the ranges and counts
/// cover all of them.
struct WeightHistogramData {
    int block = 0;
    QString layer;
    QVector<double> binEdges;  ///< counts.size() + 1 edges
    QVector<double> counts;
    double clipLow = 0;
    double clipHigh = 0;
    QVector<double> gridLevels;
    double clipLowMin = 0;     ///< smallest and largest lower bound over the rows/groups
    double clipLowMax = 0;
    double clipHighMin = 0;    ///< smallest and largest upper bound over the rows/groups
    double clipHighMax = 0;
    qint64 clippedBelow = 0;   ///< weights below the lower bound of their own row/group
    qint64 clippedAbove = 0;   ///< weights above the upper bound of their own row/group
};

/// One row of the results table. Perplexities of 0 mean "not measured".
struct RunRecord {
    QString id;       ///< caller's key, for example the run folder
    QString name;
    QString method;
    QString preset;
    double fpPerplexity = 0;
    double rtnPerplexity = 0;
    double quantPerplexity = 0;
    // What makes runs comparable. Zero or empty: not known (a run saved by an older version).
    int wbits = 0;
    int abits = 0;
    qint64 groupSize = -1;    ///< 0: per output channel; -1: not known
    qint64 nsamples = 0;      ///< calibration samples of seqlen tokens
    qint64 seqlen = 0;
    int epochs = -1;          ///< -1: not known (0 is a valid count: round-to-nearest)
    qint64 evalWindows = 0;   ///< evaluation windows; 0 with evalSeqlen > 0: every window of the text
    qint64 evalSeqlen = 0;    ///< tokens per evaluation window; 0: not evaluated or not known
    QString evalText;         ///< the evaluation text's file name
    double seconds = 0;       ///< wall time of the run
    QStringList edits;        ///< settings changed from the preset, in the window's words ("Epochs 10")
};

}  // namespace aq::widgets

Q_DECLARE_METATYPE(aq::widgets::LossSeries)
Q_DECLARE_METATYPE(aq::widgets::MatrixFrame)
Q_DECLARE_METATYPE(aq::widgets::ActivationProfileData)
Q_DECLARE_METATYPE(aq::widgets::WeightHistogramData)
Q_DECLARE_METATYPE(aq::widgets::RunRecord)
