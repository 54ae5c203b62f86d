// Fuzz target: one stored views file of a run folder (views/block_0.safetensors), replayed with aq::replayRunViews
// (what File > Open Run does) into an observer that touches every value it is given.
#include <torch/types.h>

#include "aq/error.h"
#include "aq/run_views.h"
#include "fuzz_common.h"

#include <filesystem>

namespace fs = std::filesystem;

namespace {

struct Touch : aq::CalibrationObserver {
    double sum = 0;
    void stepLoss(const aq::StepLoss& s) override { sum += s.loss + s.step; }
    void matrixDiagnostics(const aq::MatrixDiagnostics& d) override
    {
        for (float v : d.rowMargins)
            sum += v;
    }
    void matrixSnapshot(const aq::MatrixSnapshot& m) override
    {
        // What the heatmap reads: rows x cols values, and the mask when there is one.
        for (int64_t i = 0; i < m.rows * m.cols; ++i)
            sum += m.values[static_cast<size_t>(i)] + (m.mask.empty() ? 0.f : m.mask[static_cast<size_t>(i)]);
    }
    void activationProfile(const aq::ActivationProfile& a) override
    {
        for (size_t i = 0; i < a.absMaxBefore.size(); ++i)
            sum += a.absMaxBefore[i] + (a.absMaxAfter.empty() ? 0.f : a.absMaxAfter[i]);
    }
    void weightHistogram(const aq::WeightHistogram& h) override
    {
        for (size_t i = 0; i < h.counts.size(); ++i)
            sum += static_cast<double>(h.counts[i]) + h.binEdges[i] + h.binEdges[i + 1];
    }
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    aqfuzz::init("run_views");
    fs::create_directories(aqfuzz::workDir() / "run" / "views");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const fs::path run = aqfuzz::workDir() / "run";
    aqfuzz::writeFile(run / "views" / "block_0.safetensors", data, size);
    aqfuzz::guarded([&] {
        Touch touch;
        const aq::RunViewsSummary summary = aq::replayRunViews(run.string(), touch);
        // A damaged file is a listed problem, not an exception (the run still opens): counted as bad input here.
        if (!summary.problems.empty())
            throw aq::Error(aq::ErrorCode::BadInput, summary.problems.front());
    });
    return 0;
}
