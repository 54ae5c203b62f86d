// The views a run keeps in its folder (aq/run_views.h): what a reopened run replays is exactly what the live run
// reported, older folders without views and damaged files are reported instead of failing, and resume keeps them.
#include <torch/torch.h>  // before Qt: Qt's "slots" macro breaks torch headers
#include <nlohmann/json.hpp>

#include "aq/calibrate.h"
#include "aq/error.h"
#include "aq/run_views.h"
#include "safetensors.h"
#include "testruns.h"
#include "testutil.h"

#include <QtTest>

#include <cstdio>
#include <filesystem>
#include <set>
#include <fstream>

namespace fs = std::filesystem;
using aq::detail::SafetensorsFile;

namespace {

/// Every report as one line of text, floats in hexadecimal (bit-exact) so two sequences compare exactly. Written
/// independently of the views file's own format.
class Transcript : public aq::CalibrationObserver {
public:
    std::vector<std::string> lines;
    std::vector<int> blocks;  ///< the block of each line
    int stages = 0;

    void stage(aq::Stage, int, int) override { ++stages; }
    void stepLoss(const aq::StepLoss& s) override
    {
        add("step", s.block, {s.epoch, s.step, s.stepsPerEpoch}, {s.loss});
    }
    void epochFinished(const aq::EpochSummary& e) override
    {
        add("epoch", e.block, {e.epoch, e.epochs, e.bandWidth}, {e.meanLoss, e.seconds});
    }
    void matrixDiagnostics(const aq::MatrixDiagnostics& d) override
    {
        add(std::string("diag ") + aq::siteName(d.transform), d.block,
            {d.epoch, d.size, d.nonDominantRows, d.bandWidth}, {d.minMargin, d.medianMargin, d.conditionEstimate},
            {&d.rowMargins});
    }
    void matrixSnapshot(const aq::MatrixSnapshot& m) override
    {
        add(std::string("snap ") + aq::siteName(m.transform), m.block, {m.epoch, m.rows, m.cols, m.stride}, {},
            {&m.values, &m.mask});
    }
    void activationProfile(const aq::ActivationProfile& a) override
    {
        std::string layers;
        for (const auto& l : a.layers)
            layers += " " + l;
        add(std::string("act ") + aq::siteName(a.site) + layers, a.block, {}, {}, {&a.absMaxBefore, &a.absMaxAfter});
    }
    void weightHistogram(const aq::WeightHistogram& h) override
    {
        std::vector<int64_t> ints = {h.clippedBelow, h.clippedAbove};
        ints.insert(ints.end(), h.counts.begin(), h.counts.end());
        add("hist " + h.layer, h.block, ints,
            {h.clipLow, h.clipHigh, h.clipLowMin, h.clipLowMax, h.clipHighMin, h.clipHighMax}, {&h.binEdges, &h.grid});
    }
    void recovery(const aq::Recovery& r) override { add("recovery " + r.reason + " / " + r.action, r.block, {r.epoch}, {}); }
    void blockFinished(const aq::BlockSummary& b) override
    {
        std::string fallback;
        for (const auto& l : b.perChannelFallback)
            fallback += " " + l;
        add("block" + fallback, b.block, {b.numBlocks}, {b.initialLoss, b.finalLoss, b.seconds});
    }

private:
    void add(const std::string& kind, int block, const std::vector<int64_t>& ints, const std::vector<double>& reals,
             const std::vector<const std::vector<float>*>& arrays = {})
    {
        std::string s = kind + " b" + std::to_string(block);
        char buf[64];
        for (int64_t v : ints)
            s += " " + std::to_string(v);
        for (double v : reals) {
            std::snprintf(buf, sizeof buf, " %a", v);
            s += buf;
        }
        for (const auto* a : arrays) {
            s += " [" + std::to_string(a->size()) + "]";
            for (float v : *a) {
                std::snprintf(buf, sizeof buf, " %a", static_cast<double>(v));
                s += buf;
            }
        }
        lines.push_back(s);
        blocks.push_back(block);
    }
};

size_t count(const std::vector<std::string>& lines, const std::string& prefix)
{
    return static_cast<size_t>(std::count_if(lines.begin(), lines.end(),
                                             [&](const std::string& l) { return l.rfind(prefix, 0) == 0; }));
}

aq::CalibrationRequest demoRequest(const QTemporaryDir& tmp, const std::string& preset)
{
    aq::CalibrationRequest r;
    r.modelDir = aqtest::sourcePath("resources/demo-model");
    r.calibTextPath = aqtest::demoCalibText();
    r.runDir = tmp.path().toStdString() + "/run";
    r.config = aq::presetConfig(preset, aq::Method::AffineQuant);
    r.config.nsamples = 4;
    r.config.seqlen = 64;
    r.config.epochs = 2;
    return r;
}

std::string viewsFile(const std::string& runDir, int block)
{
    return runDir + "/views/block_" + std::to_string(block) + ".safetensors";
}

}  // namespace

class TestRunViews : public QObject {
    Q_OBJECT
private slots:
    void replayEqualsLiveReports()
    {
        QTemporaryDir tmp;
        const aq::CalibrationRequest r = demoRequest(tmp, "w4a4");
        Transcript live;
        aq::runCalibration(r, &live);
        QVERIFY(live.stages > 0);

        Transcript replayed;
        const aq::RunViewsSummary s = aq::replayRunViews(r.runDir, replayed);
        QCOMPARE(s.numBlocks, 4);
        QCOMPARE(s.blocks, (std::vector<int>{0, 1, 2, 3}));
        QVERIFY(s.missingBlocks.empty());
        QVERIFY(s.problems.empty());
        QVERIFY(s.bytes > 0);
        QCOMPARE(replayed.stages, 0);  // stages are live-only
        // Every kind of report is there (the comparison below would pass on two empty lists).
        QVERIFY(count(live.lines, "step ") > 0);
        QCOMPARE(count(live.lines, "epoch "), size_t(4 * 2));
        QVERIFY(count(live.lines, "diag ") > 0);
        QVERIFY(count(live.lines, "snap ") > 0);
        QVERIFY(count(live.lines, "act ") > 0);
        QVERIFY(count(live.lines, "hist ") > 0);
        QCOMPARE(count(live.lines, "block"), size_t(4));
        QCOMPARE(replayed.lines.size(), live.lines.size());
        for (size_t i = 0; i < live.lines.size(); ++i)
            QVERIFY2(replayed.lines[i] == live.lines[i], ("report " + std::to_string(i) + " differs: " +
                                                          live.lines[i].substr(0, 120)).c_str());

        // run.json says where the views are.
        std::ifstream in(fs::path(r.runDir) / "run.json");
        const auto run = nlohmann::json::parse(in);
        QCOMPARE(run["views"]["folder"].get<std::string>(), std::string("views"));
        QCOMPARE(run["views"]["format_version"].get<int>(), aq::kRunViewsFormatVersion);
        QCOMPARE(run["num_blocks"].get<int>(), 4);

        const aq::RunViewsSummary inspected = aq::inspectRunViews(r.runDir);
        QCOMPARE(inspected.blocks, s.blocks);
        QCOMPARE(inspected.bytes, s.bytes);
    }

    void olderAndDamagedFoldersSayWhatIsMissing()
    {
        QTemporaryDir tmp;
        aq::CalibrationRequest r = demoRequest(tmp, "w4a16g128");
        r.config.epochs = 1;
        Transcript live;
        aq::runCalibration(r, &live);

        // A run made before views were kept: no views folder at all.
        const std::string older = tmp.path().toStdString() + "/older";
        fs::copy(r.runDir, older, fs::copy_options::recursive);
        fs::remove_all(older + "/views");
        Transcript none;
        aq::RunViewsSummary s = aq::replayRunViews(older, none);
        QCOMPARE(s.numBlocks, 4);
        QVERIFY(s.blocks.empty());
        QCOMPARE(s.missingBlocks, (std::vector<int>{0, 1, 2, 3}));
        QVERIFY(none.lines.empty());

        // One file lost, one truncated, one of a newer format, one naming an array that is not there.
        fs::remove(viewsFile(r.runDir, 0));
        fs::resize_file(viewsFile(r.runDir, 1), fs::file_size(viewsFile(r.runDir, 1)) / 2);
        {
            SafetensorsFile f(viewsFile(r.runDir, 2));
            auto meta = f.metadata();
            std::vector<std::pair<std::string, torch::Tensor>> tensors;
            for (const auto& [name, e] : f.entries())
                tensors.emplace_back(name, f.load(name));
            meta["format_version"] = std::to_string(aq::kRunViewsFormatVersion + 1);
            aq::detail::writeSafetensors(viewsFile(r.runDir, 2) + ".new", tensors, meta);
            fs::rename(viewsFile(r.runDir, 2) + ".new", viewsFile(r.runDir, 2));
        }
        Transcript three;
        s = aq::replayRunViews(r.runDir, three);
        QCOMPARE(s.blocks, std::vector<int>{3});
        QCOMPARE(s.missingBlocks, (std::vector<int>{0, 1, 2}));
        QCOMPARE(s.problems.size(), size_t(2));
        bool newer = false, truncated = false;
        for (const auto& p : s.problems) {
            newer |= p.find("block_2") != std::string::npos && p.find("newer version") != std::string::npos;
            truncated |= p.find("block_1") != std::string::npos;
        }
        QVERIFY2(newer, s.problems[0].c_str());
        QVERIFY(truncated);
        // Block 3 replays in full, exactly as it was reported live.
        std::vector<std::string> liveBlock3;
        for (size_t i = 0; i < live.lines.size(); ++i)
            if (live.blocks[i] == 3)
                liveBlock3.push_back(live.lines[i]);
        QVERIFY(!liveBlock3.empty());
        QCOMPARE(three.lines, liveBlock3);

        // Events whose arrays are missing or of the wrong size: refused as a whole block, never half replayed.
        {
            SafetensorsFile f(viewsFile(r.runDir, 3));
            auto meta = f.metadata();
            std::vector<std::pair<std::string, torch::Tensor>> tensors;
            for (const auto& [name, e] : f.entries())
                tensors.emplace_back(name, name == "t0" ? f.load(name).narrow(0, 0, 1).clone() : f.load(name));
            aq::detail::writeSafetensors(viewsFile(r.runDir, 3) + ".new", tensors, meta);
            fs::rename(viewsFile(r.runDir, 3) + ".new", viewsFile(r.runDir, 3));
        }
        Transcript nothing;
        s = aq::replayRunViews(r.runDir, nothing);
        QVERIFY(s.blocks.empty());
        QVERIFY(nothing.lines.empty());
        QCOMPARE(s.problems.size(), size_t(3));

        // A stray file beyond the run's blocks neither counts as a block nor widens the run.
        std::ofstream(r.runDir + "/views/block_999999.safetensors") << "x";
        s = aq::inspectRunViews(r.runDir);
        QCOMPARE(s.numBlocks, 4);
        QCOMPARE(s.missingBlocks, (std::vector<int>{0, 1, 2}));  // inspection reads headers; block 3's arrays are
                                                                  // checked when it is replayed
        bool stray = false;
        for (const auto& p : s.problems)
            stray |= p.find("block_999999") != std::string::npos && p.find("has 4 blocks") != std::string::npos;
        QVERIFY(stray);

        bool refused = false;
        try {
            aq::inspectRunViews(tmp.path().toStdString() + "/no-such-run");
        } catch (const aq::Error& e) {
            refused = e.code() == aq::ErrorCode::BadInput;
        }
        QVERIFY(refused);
    }

    void resumeKeepsFinishedBlocksViews()
    {
        QTemporaryDir tmp;
        aq::CalibrationRequest r = demoRequest(tmp, "w4a16g128");
        std::atomic<bool> cancel{false};
        struct StopAtBlock2 : aq::CalibrationObserver {
            std::atomic<bool>* flag = nullptr;
            void stepLoss(const aq::StepLoss& s) override
            {
                if (s.block == 2)
                    *flag = true;
            }
        } stop;
        stop.flag = &cancel;
        bool cancelled = false;
        try {
            aq::runCalibration(r, &stop, &cancel);
        } catch (const aq::Error& e) {
            cancelled = e.code() == aq::ErrorCode::Cancelled;
        }
        QVERIFY(cancelled);
        QVERIFY(fs::exists(viewsFile(r.runDir, 1)));
        QVERIFY(!fs::exists(viewsFile(r.runDir, 2)));
        const auto before = aq::inspectRunViews(r.runDir);
        QCOMPARE(before.blocks, (std::vector<int>{0, 1}));
        const auto block0 = fs::last_write_time(viewsFile(r.runDir, 0));

        // What a front end shows before resuming: the finished blocks only.
        struct Blocks : aq::CalibrationObserver {
            std::set<int> seen;
            void blockFinished(const aq::BlockSummary& b) override { seen.insert(b.block); }
        } finished;
        QCOMPARE(aq::replayRunViews(r.runDir, finished, nullptr, 1).blocks, std::vector<int>{0});
        QCOMPARE(finished.seen, std::set<int>{0});

        r.resume = true;
        aq::runCalibration(r);
        const auto after = aq::inspectRunViews(r.runDir);
        QCOMPARE(after.blocks, (std::vector<int>{0, 1, 2, 3}));
        QVERIFY(after.problems.empty());
        QVERIFY(fs::last_write_time(viewsFile(r.runDir, 0)) == block0);
    }
};

QTEST_GUILESS_MAIN(TestRunViews)
#include "tst_run_views.moc"
