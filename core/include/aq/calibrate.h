#pragma once
/// AffineQuant calibration: the memory estimate, the observer that reports progress and diagnostics, and the entry
/// point that quantizes a model block by block into a run directory. The settings are in aq/quant_config.h.
///
/// Threading: runCalibration() runs synchronously on the calling thread (the GUI's worker thread, or the CLI's main
/// thread) and calls the observer on that same thread. Observer calls carry plain data, never tensors; they are
/// throttled at the source (step losses at most every ~50 ms, snapshots once per epoch).
#include "aq/distributed.h"
#include "aq/model_config.h"
#include "aq/quant_config.h"
#include "aq/progress.h"
#include "aq/site.h"
#include "aq/stage.h"

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace aq {

/// What a calibration needs in memory (the engine refuses to start when the device has less free).
struct MemoryEstimate {
    double bufferBytes = 0;   ///< activation buffers: inputs of both streams (+ the second target with aug-loss)
    double blockBytes = 0;    ///< one block's weights, transformed copies and gradients (float32)
    double stepBytes = 0;     ///< one training step's saved activations and attention scores
    double commBytes = 0;     ///< data-parallel runs: the gradient buffer of one all-reduce and its host copy
    int worldSize = 1;        ///< ranks the figures are for (buffers and steps are each rank's share)
    bool buffersOnHost = false;
    double deviceBytes() const { return (buffersOnHost ? 0.0 : bufferBytes) + blockBytes + stepBytes + commBytes; }
    double hostBytes() const { return buffersOnHost ? bufferBytes : 0.0; }  ///< beyond the program itself
};
/// `cuda`: whether the chosen device is a CUDA device (mixed precision and host buffers apply only there).
/// `worldSize` > 1: what each rank of a data-parallel run needs (its shard of the windows, its slice of the batch, the
/// gradient all-reduce).
MemoryEstimate estimateCalibrationMemory(const ModelConfig& model, const QuantConfig& config, bool cuda,
                                         int worldSize = 1);
/// Throws BadInput when `config` cannot be split over `worldSize` ranks (the global batch must divide evenly).
void validateWorld(const QuantConfig& config, int worldSize);

// ---- Observer data (plain values) ----

struct StepLoss {
    int block = 0;
    int epoch = 0;
    int step = 0;          ///< step inside the epoch
    double loss = 0;
    int stepsPerEpoch = 0;
};

/// Per-row diagonal-dominance margins of one transform matrix: |a_ii| - sum_{j != i} |a_ij|.
struct MatrixDiagnostics {
    int block = 0;
    int epoch = 0;
    Site transform = Site::Invalid;  ///< Qkv, Fc1, Out or Qkt
    int64_t size = 0;            ///< d (or per-head size times heads)
    std::vector<float> rowMargins;
    float minMargin = 0;
    float medianMargin = 0;
    int64_t nonDominantRows = 0; ///< rows with margin <= 0
    double conditionEstimate = 0;///< ||A||_1 * ||A^-1||_1
    int64_t bandWidth = 0;       ///< N_e of this epoch's mask
};

/// A matrix and its mask, downsampled to at most `maxSide` x `maxSide` by block averaging of |values|
/// (stride 1 means exact values).
struct MatrixSnapshot {
    int block = 0;
    int epoch = 0;
    Site transform = Site::Invalid;
    int64_t rows = 0;
    int64_t cols = 0;
    int64_t stride = 1;
    std::vector<float> values;   ///< row-major rows*cols
    std::vector<float> mask;     ///< row-major rows*cols, entries in {0, sf, 1} (averaged when downsampled)
};

/// Per-channel abs-max of the activations entering a transform site, before and after the transform.
struct ActivationProfile {
    int block = 0;
    Site site = Site::Invalid;   ///< Qkv (input of q/k/v), Fc1 (input of up/gate or fc1), Out (input of o),
                                 ///< Down (input of down_proj or fc2; not transformed, its "after" is the merged
                                 ///< block's)
    std::vector<float> absMaxBefore;
    std::vector<float> absMaxAfter;
    std::vector<std::string> layers;  ///< the linears that read these activations, named as in WeightHistogram::layer
};

/// Histogram of a (transformed) weight with the learned clipping bounds and the quantization grid of its first
/// row or group.
struct WeightHistogram {
    int block = 0;
    std::string layer;           ///< "self_attn.q_proj", ...
    std::vector<float> binEdges; ///< bins+1 edges
    std::vector<int64_t> counts;
    float clipLow = 0, clipHigh = 0;   ///< learned bounds of the first row/group
    std::vector<float> grid;           ///< dequantized levels of the first row/group
    /// Every row's (or group's) own learned bounds: their range over the layer, and how many weights lie outside
    /// the bounds of their own row or group (what clipping removes).
    float clipLowMin = 0, clipLowMax = 0, clipHighMin = 0, clipHighMax = 0;
    int64_t clippedBelow = 0, clippedAbove = 0;
};

struct Recovery {
    int block = 0;
    int epoch = 0;
    std::string reason;          ///< "non-finite loss", "non-finite gradient", "condition estimate 3.1e7 > 1e6"
    std::string action;          ///< "rolled back epoch, let-lr 5e-3 -> 2.5e-3, sf 0.1 -> 0.05"
};

struct EpochSummary {
    int block = 0;
    int epoch = 0;
    int epochs = 0;
    double meanLoss = 0;
    double seconds = 0;
    int64_t bandWidth = 0;
    /// Data-parallel runs: each rank's calibration windows per second of its own work in this epoch (time spent
    /// waiting for the other ranks excluded), indexed by rank; empty in a single process.
    std::vector<double> rankWindowsPerSecond;
};

struct BlockSummary {
    int block = 0;
    int numBlocks = 0;
    double initialLoss = 0;      ///< block loss before training (after init transforms)
    double finalLoss = 0;        ///< block loss of the merged, quantized block
    double seconds = 0;
    std::vector<std::string> perChannelFallback;   ///< layers that fell back from groups to per-channel
};

/// Receives progress and diagnostics. Every method has an empty default. Called on the calibration thread.
class CalibrationObserver {
public:
    virtual ~CalibrationObserver() = default;
    virtual void stage(Stage what, int block, int numBlocks) {}
    virtual void stepLoss(const StepLoss& s) {}
    virtual void epochFinished(const EpochSummary& e) {}
    virtual void matrixDiagnostics(const MatrixDiagnostics& d) {}
    virtual void matrixSnapshot(const MatrixSnapshot& m) {}
    virtual void activationProfile(const ActivationProfile& a) {}
    virtual void weightHistogram(const WeightHistogram& h) {}
    virtual void recovery(const Recovery& r) {}
    virtual void blockFinished(const BlockSummary& b) {}
    virtual void log(const std::string& line) {}
    /// How far the whole run has come: training steps over every block (blocks when nothing is trained), with the
    /// time left at the pace so far. Sent with step reports (throttled like them) and at each epoch's and block's end.
    virtual void progress(const Progress& p) {}
};

struct CalibrationRequest {
    std::string modelDir;
    std::string calibTextPath;
    std::string runDir;          ///< output: run.json, model/, checkpoints for resume
    QuantConfig config;
    std::string evalTextPath;    ///< optional: perplexities (FP, RTN, quantized) written into run.json
    int64_t evalWindows = 0;     ///< 0 = all windows
    int64_t evalSeqlen = 0;      ///< 0 = the calibration seqlen
    bool resume = false;
    bool force = false;          ///< allow a non-empty runDir (its contents are replaced)
    bool checkFreeSpace = true;  ///< refuse up front when runDir's filesystem cannot hold the whole run (a probe
                                 ///< that stops after the first block turns this off; full disks still fail cleanly)
    /// Data-parallel calibration: this process's place in the group (one process by default). Every rank is given
    /// the same request except config.device; rank 0 alone writes runDir and calls the observer with progress.
    WorldSpec world;
};

struct CalibrationResult {
    std::string runDir;
    std::string modelDir;        ///< runDir/model
    double fpPerplexity = 0;     ///< 0 when no eval text was given
    double rtnPerplexity = 0;
    double quantPerplexity = 0;
    double seconds = 0;
    int recoveries = 0;
};

/// Runs a whole calibration. Throws aq::Error (BadInput, OutOfMemory, Numerical, Cancelled, Internal, and PeerFailure
/// when another rank of a data-parallel run stops). A cancelled or failed run never leaves a `model/` folder that looks
/// complete. On ranks other than 0 the result carries no model folder and no perplexities.
CalibrationResult runCalibration(const CalibrationRequest& request, CalibrationObserver* observer = nullptr,
                                 const CancelToken* cancel = nullptr);

}  // namespace aq
