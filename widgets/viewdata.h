#pragma once
// Plain value types the views are fed with. They mirror what a calibration reports, but use Qt containers and
// know nothing of the engine, so the views can be driven by synthetic data in tests.
#include <QMetaType>
#include <QString>
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
    QString site;
    QVector<double> absMaxBefore;
    QVector<double> absMaxAfter;
};

/// Histogram of one weight with its clipping bounds and quantization grid.
struct WeightHistogramData {
    int block = 0;
    QString layer;
    QVector<double> binEdges;  ///< counts.size() + 1 edges
    QVector<double> counts;
    double clipLow = 0;
    double clipHigh = 0;
    QVector<double> gridLevels;
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
};

}  // namespace aq::widgets

Q_DECLARE_METATYPE(aq::widgets::LossSeries)
Q_DECLARE_METATYPE(aq::widgets::MatrixFrame)
Q_DECLARE_METATYPE(aq::widgets::ActivationProfileData)
Q_DECLARE_METATYPE(aq::widgets::WeightHistogramData)
Q_DECLARE_METATYPE(aq::widgets::RunRecord)
