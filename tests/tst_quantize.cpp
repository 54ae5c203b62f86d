// Quantizers, gradual mask, transform exactness and the calibration engine.
// LibTorch headers before Qt headers.
#include "cancellable_tokenize.h"
#include "checkpoint.h"
#include "finite_check.h"
#include "model.h"
#include "quantizer.h"
#include "run_directory.h"
#include "safetensors.h"
#include "transforms.h"

#include "aq/calibrate.h"
#include "aq/error.h"
#include "aq/evaluate.h"
#include "aq/tokenizer.h"
#include "testutil.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <optional>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

namespace fs = std::filesystem;
using namespace aq::detail;

namespace {

const std::string kDemo = aqtest::sourcePath("resources/demo-model");
const std::string kDemoCalib = aqtest::sourcePath("resources/demo-text/train/northangerabbey.txt");
const std::string kDemoEval = aqtest::sourcePath("resources/demo-text/heldout.txt");

/// Straightforward per-row asymmetric min/max quantization in double precision (independent of the library code).
std::vector<double> referenceQuantRow(const std::vector<double>& row, int bits)
{
    double mx = row[0], mn = row[0];
    for (double v : row) {
        mx = std::max(mx, v);
        mn = std::min(mn, v);
    }
    const double qmax = std::pow(2.0, bits) - 1;
    const double delta = std::clamp((mx - mn) / qmax, 1e-5, 1e4);
    const double zp = std::nearbyint(std::clamp(-mn / delta, -1e4, 1e4));
    std::vector<double> out;
    for (double v : row) {
        const double q = std::clamp(std::nearbyint(v / delta) + zp, 0.0, qmax);
        out.push_back((q - zp) * delta);
    }
    return out;
}

double relErr(const torch::Tensor& a, const torch::Tensor& b)
{
    return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>() /
           b.to(torch::kFloat64).abs().max().item<double>();
}

aq::QuantConfig smallConfig(const std::string& preset, aq::Method method = aq::Method::AffineQuant)
{
    aq::QuantConfig c = aq::presetConfig(preset, method);
    c.nsamples = 4;
    c.seqlen = 64;
    c.epochs = std::min(c.epochs, 2);
    return c;
}

/// A small calibration of the bundled demo model into `tmp`/run.
aq::CalibrationRequest demoRequest(const QTemporaryDir& tmp, const std::string& preset)
{
    aq::CalibrationRequest r;
    r.modelDir = kDemo;
    r.calibTextPath = kDemoCalib;
    r.runDir = tmp.path().toStdString() + "/run";
    r.config = smallConfig(preset);
    return r;
}

/// Random, strictly diagonally dominant (hence invertible) transforms for an exactness check, quantization off.
BlockTransforms randomTransforms(const aq::ModelConfig& m, bool lnMatrix, bool qkMatrix)
{
    const int64_t d = m.hiddenSize, h = m.headDim, nkv = m.numKvHeads;
    auto dominant = [](int64_t n, int64_t batch) {
        auto a = torch::randn({batch, n, n}) * (0.3 / static_cast<double>(n));
        return a + torch::diag_embed(torch::rand({batch, n}) + 0.75);
    };
    BlockTransforms t;
    t.s1 = lnMatrix ? dominant(d, 1)[0] : torch::rand({d}) + 0.5;
    t.s2 = lnMatrix ? dominant(d, 1)[0] : torch::rand({d}) + 0.5;
    t.d1 = torch::randn({d}) * 0.1;
    t.d2 = torch::randn({d}) * 0.1;
    t.s3 = dominant(h, nkv);
    t.d3 = torch::randn({nkv * h}) * 0.1;
    t.s4 = qkMatrix ? dominant(h, nkv) : torch::rand({nkv * h}) + 0.5;
    return t;
}

}  // namespace

class TestQuantize : public QObject {
    Q_OBJECT

private slots:
    void maskSchedule()
    {
        // Spec §5.1: N_e = floor(((d-1)/(E-1)) * e) + 1.
        QCOMPARE(aq::maskBandWidth(4096, 20, 0), int64_t(1));
        QCOMPARE(aq::maskBandWidth(4096, 20, 1), int64_t(216));
        QCOMPARE(aq::maskBandWidth(4096, 20, 2), int64_t(432));
        QCOMPARE(aq::maskBandWidth(4096, 20, 3), int64_t(647));
        QCOMPARE(aq::maskBandWidth(4096, 20, 19), int64_t(4095));  // the corner case: (0, d-1) stays masked
        QCOMPARE(aq::maskBandWidth(128, 20, 1), int64_t(7));
        QCOMPARE(aq::maskBandWidth(128, 20, 2), int64_t(14));
        QCOMPARE(aq::maskBandWidth(128, 20, 3), int64_t(21));
        QCOMPARE(aq::maskBandWidth(128, 20, 19), int64_t(128));
        QCOMPARE(aq::maskBandWidth(64, 1, 0), int64_t(1));   // one epoch: diagonal only
        QCOMPARE(aq::maskBandWidth(64, 0, 0), int64_t(1));
        QCOMPARE(aq::maskBandWidth(64, 2, 1), int64_t(64));
        // The mask itself: 1 on the diagonal, sf inside the band, 0 outside.
        auto m = bandMask(6, 3, 0.1, torch::TensorOptions().dtype(torch::kFloat32));
        QCOMPARE(m[2][2].item<float>(), 1.0f);
        QCOMPARE(m[2][4].item<float>(), 0.1f);
        QCOMPARE(m[4][2].item<float>(), 0.1f);
        QCOMPARE(m[1][4].item<float>(), 0.0f);
        QCOMPARE(m.sum().item<float>(), 6.0f + 0.1f * 18);
    }

    void weightQuantizerMatchesReference_data()
    {
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("groupSize");
        QTest::newRow("w4 per-channel") << 4 << 0;
        QTest::newRow("w3 g64 with a partial group (172 wide)") << 3 << 64;
        QTest::newRow("w2 g128") << 2 << 128;
    }
    void weightQuantizerMatchesReference()
    {
        QFETCH(int, bits);
        QFETCH(int, groupSize);
        torch::manual_seed(5);
        auto w = torch::randn({6, 172}, torch::kFloat64).to(torch::kFloat32);
        WeightQuantSpec spec;
        spec.bits = bits;
        spec.groupSize = groupSize;
        // Both paths: the fused loops (the default on every device) and the reference tensor operations.
        for (const bool reference : {false, true}) {
        std::optional<ReferenceWeightQuantScope> scope;
        if (reference)
            scope.emplace();
        auto q = fakeQuantWeight(w, spec).to(torch::kFloat64);
        const int64_t g = groupSize > 0 ? groupSize : 172;
        for (int64_t r = 0; r < 6; ++r)
            for (int64_t start = 0; start < 172; start += g) {
                const int64_t n = std::min<int64_t>(g, 172 - start);
                std::vector<double> row;
                for (int64_t i = 0; i < n; ++i)
                    row.push_back(w[r][start + i].item<float>());
                const auto ref = referenceQuantRow(row, bits);
                for (int64_t i = 0; i < n; ++i)
                    QVERIFY(std::abs(q[r][start + i].item<double>() - ref[static_cast<size_t>(i)]) < 1e-5);
            }
        }
        QCOMPARE(groupsPerRow(172, 64), int64_t(3));
    }

    void straightThroughGradients()
    {
        // In-range elements get gradient 1, clipped ones 0 (spec §2.1). The row's extremes also feed the step size,
        // so the check looks at the elements in between.
        auto x = torch::tensor({-1.0f, 0.05f, 0.9f, 1.0f}).view({1, 4}).requires_grad_(true);
        auto up = torch::full({1, 1}, -2.0f);  // sigmoid(-2) ~ 0.12: the largest values get clipped
        auto low = torch::full({1, 1}, 4.0f);
        auto y = fakeQuantRows(x, 4, false, false, true, up, low);
        y.sum().backward();
        auto g = x.grad();
        QCOMPARE(g[0][1].item<float>(), 1.0f);
        QCOMPARE(g[0][2].item<float>(), 0.0f);
        // Activation quantization at 16 bits is the identity.
        QVERIFY(torch::equal(fakeQuantActivation(x, 16), x));
    }

    void transformsAreExact_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<bool>("lnMatrix");
        QTest::addColumn<bool>("qkMatrix");
        QTest::newRow("demo LLaMA GQA, matrices") << "demo" << true << false;
        QTest::newRow("demo LLaMA GQA, vectors") << "demo" << false << false;
        QTest::newRow("stories LLaMA GQA, matrices") << "models/stories260K-hf" << true << false;
        QTest::newRow("stories LLaMA MHA, matrices") << "models/stories260K-mha-hf" << true << false;
        QTest::newRow("OPT, all matrices incl. q/k") << "models/tiny-random-opt-hf" << true << true;
        QTest::newRow("OPT, vectors") << "models/tiny-random-opt-hf" << false << false;
    }
    void transformsAreExact()
    {
        QFETCH(QString, model);
        QFETCH(bool, lnMatrix);
        QFETCH(bool, qkMatrix);
        std::string dir = kDemo;
        if (model != "demo") {
            AQ_REQUIRE_FIXTURE(f, model.toStdString());
            dir = f;
        }
        Checkpoint ck(dir);
        const aq::ModelConfig& m = ck.config();
        torch::manual_seed(11);
        aq::QuantConfig q;
        q.wbits = 16;
        q.abits = 16;
        q.lnMatrix = lnMatrix;
        q.qkMatrix = qkMatrix;
        const auto cpu = torch::Device(torch::kCPU);
        auto w = loadBlock(ck, 0, cpu, torch::kFloat32);
        BlockTransforms t = randomTransforms(m, lnMatrix, qkMatrix);
        if (m.arch == aq::Architecture::Llama)
            t.s4 = torch::Tensor();  // P4 acts before RoPE on LLaMA: not an identity by construction (spec §4.2)
        EpochMasks masks;
        masks.head = torch::ones({m.headDim, m.headDim});
        masks.big = torch::ones({m.hiddenSize, m.hiddenSize});
        const auto specs = weightSpecs(m, q, w, 0, nullptr);
        auto merged = applyTransforms(m, q, w, t, masks, specs, false);
        const int64_t T = 24;
        auto x = torch::randn({2, T, m.hiddenSize});
        auto rope = m.arch == aq::Architecture::Llama ? makeRopeTables(m, T, cpu, torch::kFloat32) : RopeTables{};
        torch::NoGradGuard ng;
        auto ref = runDecoderBlock(m, w, x, rope);
        auto out = runDecoderBlock(m, merged, x, rope);
        const double err = relErr(out - x, ref - x);
        qInfo("%s: relative change of the block's output %.3g", qPrintable(model), err);
        QVERIFY(err < 1e-4);
        // The merged form has the extra tensors the run output documents.
        QVERIFY(merged.get(blockLayout(m).norm1 + ".bias").defined());
        QCOMPARE(merged.get(blockLayout(m).norm1 + ".post_matrix").defined(), lnMatrix);
    }

    void fastPathTransformsMatchFloat32_data()
    {
        QTest::addColumn<bool>("lnMatrix");
        QTest::newRow("per-head matrices (W4A4 recipe)") << false;
        QTest::newRow("post-norm and per-head matrices (paper's weight-only recipe)") << true;
    }
    void fastPathTransformsMatchFloat32()
    {
        // The large-model fast path builds the transformed weights from a bf16 copy of the block, with bf16 products
        // and inverses refined from the previous step's (one Newton-Schulz step). Against the float32 path with exact
        // inverses: weights within bf16 rounding, refinement residuals small, gradients finite.
        QFETCH(bool, lnMatrix);
        Checkpoint ck(kDemo);
        const aq::ModelConfig& m = ck.config();
        torch::manual_seed(5);
        aq::QuantConfig q;
        q.wbits = 16;
        q.abits = 16;
        q.lnMatrix = lnMatrix;
        q.qkMatrix = true;
        const auto cpu = torch::Device(torch::kCPU);
        auto w = loadBlock(ck, 0, cpu, torch::kFloat32);
        BlockWeights wHalf = w;
        for (auto& [n, x] : wHalf.tensors)
            x = x.to(torch::kBFloat16);
        BlockTransforms t = randomTransforms(m, lnMatrix, true);
        EpochMasks masks;
        masks.head = torch::ones({m.headDim, m.headDim});
        masks.big = torch::ones({m.hiddenSize, m.hiddenSize});
        const auto specs = weightSpecs(m, q, w, 0, nullptr);
        InverseCache cache;
        TransformOptions fast;
        fast.quantOut = torch::kBFloat16;
        fast.halfProducts = true;
        fast.cache = &cache;
        fast.refineHeadInverses = true;
        const BlockLayout L = blockLayout(m);
        auto compare = [&](const BlockWeights& a, const BlockWeights& ref) {
            double worst = 0;
            for (const auto& name : L.linears())
                worst = std::max(worst, relErr(a.at(name + ".weight"), ref.at(name + ".weight")));
            return worst;
        };
        {
            torch::NoGradGuard ng;
            auto ref = applyTransforms(m, q, w, t, masks, specs, false);
            auto first = applyTransforms(m, q, wHalf, t, masks, specs, false, fast);
            QCOMPARE(cache.exact, lnMatrix ? 4 : 2);  // norm1, norm2, "out", "qkt"
            QCOMPARE(cache.refined, 0);
            const double err = compare(first, ref);
            qInfo("exact inverses: largest relative weight difference %.3g", err);
            QVERIFY(err < 2e-2);
        }
        // One optimizer-sized move of every matrix, then the refined inverses.
        for (auto* s : {&t.s1, &t.s2, &t.s3, &t.s4})
            if (s->dim() >= 2)
                *s = (*s + torch::randn(s->sizes()) * (1e-3 / static_cast<double>(s->size(-1)))).requires_grad_(true);
        auto ref = [&] {
            torch::NoGradGuard ng;
            return applyTransforms(m, q, w, t, masks, specs, false);
        }();
        auto refined = applyTransforms(m, q, wHalf, t, masks, specs, false, fast);
        QCOMPARE(cache.refined, lnMatrix ? 4 : 2);
        const double residual = cache.residual.item<double>();
        const double err = compare(refined, ref);
        qInfo("refined inverses: residual %.3g, largest relative weight difference %.3g", residual, err);
        QVERIFY(residual < 1e-2);
        QVERIFY(err < 2e-2);
        torch::Tensor loss = torch::zeros({});
        for (const auto& name : L.linears())
            loss = loss + refined.at(name + ".weight").to(torch::kFloat32).pow(2).mean();
        loss.backward();
        for (auto* s : {&t.s3, &t.s4}) {
            QVERIFY(s->grad().defined());
            QVERIFY(torch::isfinite(s->grad()).all().item<bool>());
            QVERIFY(s->grad().abs().sum().item<double>() > 0);
        }
    }

    void rtnMatchesReference_data()
    {
        QTest::addColumn<int>("bits");
        QTest::addColumn<double>("reference");
        // transformers 5.17 figures (platform notes): per-channel asymmetric min/max on every decoder linear.
        QTest::newRow("W4") << 4 << 134.6129;
        QTest::newRow("W3") << 3 << 258.2464;
        QTest::newRow("W2") << 2 << 1758.4727;
    }
    void rtnMatchesReference()
    {
        QFETCH(int, bits);
        QFETCH(double, reference);
        AQ_REQUIRE_FIXTURE(model, "models/stories260K-hf");
        AQ_REQUIRE_FIXTURE(calib, "text/wikitext2_valid_tokens.txt");
        AQ_REQUIRE_FIXTURE(text, "text/wikitext2_test_hf_joined.txt");
        QTemporaryDir tmp;
        aq::CalibrationRequest r;
        r.modelDir = model;
        r.calibTextPath = calib;
        r.runDir = tmp.path().toStdString() + "/run";
        r.config.method = aq::Method::Rtn;
        r.config.lwc = r.config.let = false;
        r.config.epochs = 0;
        r.config.wbits = bits;
        r.config.nsamples = 2;
        r.config.seqlen = 512;
        r.evalTextPath = text;
        r.evalWindows = 8;
        const auto res = aq::runCalibration(r);
        qInfo("RTN W%d: %.4f (reference %.4f)", bits, res.quantPerplexity, reference);
        QVERIFY(std::abs(res.quantPerplexity - reference) / reference < 5e-3);
        QCOMPARE(res.rtnPerplexity, res.quantPerplexity);
        QVERIFY(std::abs(res.fpPerplexity - 130.3665) < 0.01);
    }

    void calibrationImprovesOnRtnAndReports()
    {
        QTemporaryDir tmp;
        aq::CalibrationRequest r = demoRequest(tmp, "w4a4");
        // 16 samples: with 8 the calibration's outcome varies by more than its gain over RTN from seed to seed (and
        // from one rounding of the fake quantizer to another).
        r.config.nsamples = 16;
        r.config.seqlen = 128;
        r.evalTextPath = kDemoEval;
        r.evalWindows = 4;
        r.evalSeqlen = 256;
        struct Spy : aq::CalibrationObserver {
            int losses = 0, diags = 0, snaps = 0, blocks = 0, profiles = 0, hists = 0;
            void stepLoss(const aq::StepLoss&) override { ++losses; }
            void matrixDiagnostics(const aq::MatrixDiagnostics& d) override
            {
                ++diags;
                QVERIFY(d.rowMargins.size() == static_cast<size_t>(d.size));
            }
            void matrixSnapshot(const aq::MatrixSnapshot& s) override
            {
                ++snaps;
                QCOMPARE(s.values.size(), static_cast<size_t>(s.rows * s.cols));
            }
            void activationProfile(const aq::ActivationProfile&) override { ++profiles; }
            void weightHistogram(const aq::WeightHistogram&) override { ++hists; }
            void blockFinished(const aq::BlockSummary&) override { ++blocks; }
        } spy;
        const auto res = aq::runCalibration(r, &spy);
        qInfo("demo w4a4 (16 x 128 tokens, 2 epochs): FP %.3f RTN %.3f affinequant %.3f", res.fpPerplexity,
              res.rtnPerplexity, res.quantPerplexity);
        QVERIFY(res.quantPerplexity < res.rtnPerplexity);
        QCOMPARE(spy.blocks, 4);
        QVERIFY(spy.losses > 0);
        QCOMPARE(spy.diags, 4 * 2 * 2);  // blocks x epochs x (out, qkt)
        QCOMPARE(spy.snaps, spy.diags);
        QCOMPARE(spy.profiles, 4 * 4);  // blocks x (qkv, out, fc1, down)
        QCOMPARE(spy.hists, 4 * 7);
        std::ifstream in(fs::path(r.runDir) / "run.json");
        const auto run = nlohmann::json::parse(in);
        QCOMPARE(run["status"].get<std::string>(), std::string("complete"));
        QCOMPARE(run["blocks"].size(), size_t(4));
        QVERIFY(run["blocks"][0]["epochs"][1]["matrices"].contains("out"));
        QVERIFY(run["blocks"][0]["epochs"][1]["matrices"]["out"].contains("non_dominant_rows"));
        // The run's model is evaluated with its activation quantization (abits 4 from config.json).
        QCOMPARE(aq::loadModelConfig(r.runDir + "/model").activationBits, 4);
    }

    /// A model whose query heads all share one key/value head (multi-query attention): its per-head transform
    /// between values and outputs is then a single block, which must still be masked, diagnosed and shown as per-head
    /// blocks (it once took the post-norm matrices' mask, undefined without --ln-matrix, and the run failed).
    void oneKeyValueHead()
    {
        QTemporaryDir tmp;
        const fs::path model = tmp.path().toStdString() + "/mqa";
        fs::create_directories(model);
        for (const auto& e : fs::directory_iterator(kDemo))
            if (e.path().filename() != "model.safetensors")
                fs::copy_file(e.path(), model / e.path().filename());
        {
            std::ifstream in(model / "config.json");
            auto cfg = nlohmann::json::parse(in);
            cfg["num_key_value_heads"] = 1;
            std::ofstream(model / "config.json", std::ios::trunc) << cfg.dump(2);
        }
        // The demo model's keys and values with their first head only.
        const aq::detail::Checkpoint demo(kDemo);
        const int64_t headDim = demo.config().headDim;
        std::vector<std::pair<std::string, torch::Tensor>> tensors;
        for (const auto& name : demo.names()) {
            auto t = demo.load(name);
            if (name.find("k_proj.weight") != std::string::npos || name.find("v_proj.weight") != std::string::npos)
                t = t.narrow(0, 0, headDim).contiguous();
            tensors.emplace_back(name, t);
        }
        aq::detail::writeSafetensors((model / "model.safetensors").string(), tensors);
        aq::CalibrationRequest r = demoRequest(tmp, "w4a4");
        r.modelDir = model.string();
        struct Spy : aq::CalibrationObserver {
            std::vector<aq::MatrixSnapshot> out;
            std::vector<aq::MatrixDiagnostics> diags;
            void matrixSnapshot(const aq::MatrixSnapshot& s) override
            {
                if (s.transform == aq::Site::Out)
                    out.push_back(s);
            }
            void matrixDiagnostics(const aq::MatrixDiagnostics& d) override
            {
                if (d.transform == aq::Site::Out)
                    diags.push_back(d);
            }
        } spy;
        aq::runCalibration(r, &spy);
        QCOMPARE(spy.out.size(), size_t(4 * 2));  // blocks x epochs
        const auto& first = spy.out.front();
        QCOMPARE(first.rows, headDim);
        QCOMPARE(first.cols, headDim);
        // Epoch 0 of 2: the head mask's band is that epoch's (the diagonal is 1, far corners still 0).
        QCOMPARE(first.mask[0], 1.0f);
        QCOMPARE(first.mask[static_cast<size_t>(headDim - 1)], 0.0f);
        QCOMPARE(spy.diags.front().bandWidth, aq::maskBandWidth(headDim, 2, 0));
    }

    /// Every row's/group's own clipping bounds: the histogram's counts of weights outside them, checked against the
    /// demo model's weights. Without LET the histogrammed weights are the checkpoint's; at 0 epochs the clipping
    /// factors are their initial sigmoid(4) (an exact check), after training the bounds are bracketed by the exported
    /// scales and zero points (lo = -zero * step to within half a step, hi = lo + 15 steps).
    void weightHistogramCountsClippedWeights()
    {
        const Checkpoint ck(kDemo);
        const aq::ModelConfig& m = ck.config();
        const int64_t groupSize = 96;  // 256 = 2 x 96 + a partial group of 64; 768 = 8 x 96
        struct Spy : aq::CalibrationObserver {
            std::vector<aq::WeightHistogram> hists;
            void weightHistogram(const aq::WeightHistogram& h) override { hists.push_back(h); }
        };
        auto run = [&](const QTemporaryDir& tmp, int epochs) {
            aq::CalibrationRequest r = demoRequest(tmp, "w4a16");
            r.config.let = false;
            r.config.lwc = true;
            r.config.groupSize = groupSize;
            r.config.partialGroups = true;
            r.config.zeroInRange = false;  // the exported steps then span exactly the learned bounds
            r.config.epochs = epochs;
            Spy spy;
            aq::runCalibration(r, &spy);
            return spy.hists;
        };
        const size_t histsPerRun = size_t(m.numLayers) * blockLayout(m).linears().size();
        auto weightOf = [&](const aq::WeightHistogram& h) {
            return ck.load(blockPrefix(m, h.block) + h.layer + ".weight").to(torch::kFloat32).contiguous();
        };
        // Invariants every histogram must satisfy.
        auto checkShape = [](const aq::WeightHistogram& h, const torch::Tensor& w) {
            int64_t total = 0;
            for (int64_t c : h.counts)
                total += c;
            QCOMPARE(total, w.numel());
            QVERIFY(h.clippedBelow >= 0 && h.clippedAbove >= 0);
            QVERIFY(h.clippedBelow + h.clippedAbove <= total);
            QVERIFY(h.clipLowMin <= h.clipLow && h.clipLow <= h.clipLowMax);
            QVERIFY(h.clipHighMin <= h.clipHigh && h.clipHigh <= h.clipHighMax);
            QVERIFY(h.clipLowMin >= h.binEdges.front() && h.clipHighMax <= h.binEdges.back());
        };

        // Untrained: bounds are sigmoid(4) times each group's extremes, recomputed here group by group.
        {
            QTemporaryDir tmp;
            const float factor = torch::sigmoid(torch::full({1}, 4.0f)).item<float>();
            const auto hists = run(tmp, 0);
            QCOMPARE(hists.size(), histsPerRun);
            int64_t clippedTotal = 0;
            for (const aq::WeightHistogram& h : hists) {
                const torch::Tensor w = weightOf(h);
                checkShape(h, w);
                const int64_t rows = w.size(0), in = w.size(1);
                const float* x = w.data_ptr<float>();
                int64_t below = 0, above = 0;
                float lowMin = INFINITY, lowMax = -INFINITY, highMin = INFINITY, highMax = -INFINITY;
                for (int64_t r = 0; r < rows; ++r)
                    for (int64_t start = 0; start < in; start += groupSize) {
                        const int64_t end = std::min(in, start + groupSize);
                        float mn = INFINITY, mx = -INFINITY;
                        for (int64_t j = start; j < end; ++j) {
                            mn = std::min(mn, x[r * in + j]);
                            mx = std::max(mx, x[r * in + j]);
                        }
                        const float lo = factor * mn, hi = factor * mx;
                        if (r == 0 && start == 0) {
                            QCOMPARE(h.clipLow, lo);
                            QCOMPARE(h.clipHigh, hi);
                        }
                        lowMin = std::min(lowMin, lo);
                        lowMax = std::max(lowMax, lo);
                        highMin = std::min(highMin, hi);
                        highMax = std::max(highMax, hi);
                        for (int64_t j = start; j < end; ++j) {
                            below += x[r * in + j] < lo;
                            above += x[r * in + j] > hi;
                        }
                    }
                QCOMPARE(h.clippedBelow, below);
                QCOMPARE(h.clippedAbove, above);
                QCOMPARE(h.clipLowMin, lowMin);
                QCOMPARE(h.clipLowMax, lowMax);
                QCOMPARE(h.clipHighMin, highMin);
                QCOMPARE(h.clipHighMax, highMax);
                clippedTotal += below + above;
            }
            QVERIFY(clippedTotal > 0);  // sigmoid(4) < 1 cuts each group's extremes
        }

        // Trained: the exported step s and zero point z of each group bracket its bounds.
        {
            QTemporaryDir tmp;
            const auto hists = run(tmp, 1);
            QCOMPARE(hists.size(), histsPerRun);
            SafetensorsFile quant(tmp.path().toStdString() + "/run/model/quantization.safetensors");
            int64_t clippedTotal = 0, surelyTotal = 0, maybeTotal = 0;
            for (const aq::WeightHistogram& h : hists) {
                const torch::Tensor w = weightOf(h);
                checkShape(h, w);
                const std::string name = blockPrefix(m, h.block) + h.layer;
                const torch::Tensor s = quant.load(name + ".scales").to(torch::kFloat64).contiguous();
                const torch::Tensor z = quant.load(name + ".zeros").to(torch::kFloat64).contiguous();
                const int64_t rows = w.size(0), in = w.size(1), groups = s.size(1);
                QCOMPARE(groups, (in + groupSize - 1) / groupSize);
                const float* x = w.data_ptr<float>();
                const double* sp = s.data_ptr<double>();
                const double* zp = z.data_ptr<double>();
                int64_t surelyBelow = 0, maybeBelow = 0, surelyAbove = 0, maybeAbove = 0;
                for (int64_t r = 0; r < rows; ++r)
                    for (int64_t k = 0; k < groups; ++k) {
                        const double step = sp[r * groups + k], zero = zp[r * groups + k];
                        const double slack = 1e-5 * step;  // float32 rounding of the step and the bounds
                        const double loLow = -(zero + 0.5) * step - slack, loHigh = -(zero - 0.5) * step + slack;
                        const double hiLow = loLow + 15 * step - slack, hiHigh = loHigh + 15 * step + slack;
                        for (int64_t j = k * groupSize; j < std::min(in, (k + 1) * groupSize); ++j) {
                            const double v = x[r * in + j];
                            surelyBelow += v < loLow;
                            maybeBelow += v < loHigh;
                            surelyAbove += v > hiHigh;
                            maybeAbove += v > hiLow;
                        }
                    }
                QVERIFY2(surelyBelow <= h.clippedBelow && h.clippedBelow <= maybeBelow,
                         qPrintable(QStringLiteral("%1 block %2: %3 below, expected %4..%5")
                                        .arg(QString::fromStdString(h.layer))
                                        .arg(h.block)
                                        .arg(h.clippedBelow)
                                        .arg(surelyBelow)
                                        .arg(maybeBelow)));
                QVERIFY2(surelyAbove <= h.clippedAbove && h.clippedAbove <= maybeAbove,
                         qPrintable(QStringLiteral("%1 block %2: %3 above, expected %4..%5")
                                        .arg(QString::fromStdString(h.layer))
                                        .arg(h.block)
                                        .arg(h.clippedAbove)
                                        .arg(surelyAbove)
                                        .arg(maybeAbove)));
                clippedTotal += h.clippedBelow + h.clippedAbove;
                surelyTotal += surelyBelow + surelyAbove;
                maybeTotal += maybeBelow + maybeAbove;
            }
            qInfo("trained clipping: %lld weights outside their bounds, bracket %lld..%lld", (long long)clippedTotal,
                  (long long)surelyTotal, (long long)maybeTotal);
            QVERIFY(clippedTotal > 0);
        }
    }

    void epochsZeroAndOne()
    {
        for (int epochs : {0, 1}) {
            QTemporaryDir tmp;
            aq::CalibrationRequest r;
            r.modelDir = kDemo;
            r.calibTextPath = kDemoCalib;
            r.runDir = tmp.path().toStdString() + "/run";
            r.config = smallConfig("w4a16g128");
            r.config.epochs = epochs;
            const auto res = aq::runCalibration(r);
            QVERIFY(fs::exists(fs::path(res.modelDir) / "model.safetensors"));
        }
    }

    void resumeGivesIdenticalWeights()
    {
        QTemporaryDir tmp;
        const std::string base = tmp.path().toStdString();
        aq::CalibrationRequest r;
        r.modelDir = kDemo;
        r.calibTextPath = kDemoCalib;
        r.config = smallConfig("w4a16g128");
        r.runDir = base + "/straight";
        aq::runCalibration(r);

        r.runDir = base + "/interrupted";
        std::atomic<bool> cancel{false};
        // Stop in the middle of block 2's training: blocks 0 and 1 are on disk, block 2 is lost and redone.
        struct StopMidBlock : aq::CalibrationObserver {
            std::atomic<bool>* flag;
            void stepLoss(const aq::StepLoss& s) override
            {
                if (s.block == 2 && s.epoch == 1)
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
        QVERIFY(!fs::exists(fs::path(r.runDir) / "model"));  // nothing that looks complete
        QVERIFY(!fs::exists(fs::path(r.runDir) / "run.json"));
        QVERIFY(fs::exists(fs::path(r.runDir) / "blocks" / "block_1.safetensors"));
        QVERIFY(!fs::exists(fs::path(r.runDir) / "blocks" / "block_2.safetensors"));
        r.resume = true;
        aq::runCalibration(r);
        SafetensorsFile a(base + "/straight/model/model.safetensors"), b(base + "/interrupted/model/model.safetensors");
        QCOMPARE(a.entries().size(), b.entries().size());
        for (const auto& [name, e] : a.entries())
            QVERIFY2(torch::equal(a.load(name), b.load(name)), name.c_str());

        // A different configuration refuses to resume.
        r.config.wbits = 3;
        bool refused = false;
        try {
            aq::runCalibration(r);
        } catch (const aq::Error& e) {
            refused = e.code() == aq::ErrorCode::BadInput && std::string(e.what()).find("differ") != std::string::npos;
        }
        QVERIFY(refused);
    }

    void guardedNumericsRollBackThenFail()
    {
        // A condition limit no matrix can meet: every epoch is rolled back, then the run fails clearly.
        QTemporaryDir tmp;
        aq::CalibrationRequest r = demoRequest(tmp, "w4a4");
        r.config.conditionLimit = 1.0;
        r.config.maxRecoveries = 2;
        struct Count : aq::CalibrationObserver {
            int n = 0;
            void recovery(const aq::Recovery& rec) override
            {
                ++n;
                QVERIFY(rec.action.find("rolled back") != std::string::npos);
            }
        } count;
        bool numerical = false;
        try {
            aq::runCalibration(r, &count);
        } catch (const aq::Error& e) {
            numerical = e.code() == aq::ErrorCode::Numerical;
        }
        QVERIFY(numerical);
        QCOMPARE(count.n, 2);
        QVERIFY(!fs::exists(fs::path(r.runDir) / "model"));
    }

    void rollbackFactorScalesTheRates()
    {
        // Every epoch is rolled back (no matrix meets a condition limit of 1); each rollback multiplies the learning
        // rates and the stability factor by the chosen factor instead of halving them.
        QTemporaryDir tmp;
        aq::CalibrationRequest r = demoRequest(tmp, "w4a4");
        r.config.conditionLimit = 1.0;
        r.config.maxRecoveries = 2;
        r.config.rollbackFactor = 0.25;
        const double letLr = r.config.letLr, lwcLr = r.config.lwcLr, sf = r.config.sf;
        struct Actions : aq::CalibrationObserver {
            std::vector<std::string> seen;
            void recovery(const aq::Recovery& rec) override { seen.push_back(rec.action); }
        } actions;
        try {
            aq::runCalibration(r, &actions);
            QFAIL("the run finished although no epoch could");
        } catch (const aq::Error& e) {
            QCOMPARE(e.code(), aq::ErrorCode::Numerical);
        }
        QCOMPARE(actions.seen.size(), size_t(2));
        auto expected = [](double lr1, double lr2, double s, double f) {
            std::ostringstream a;
            a << "let-lr " << lr1 << " -> " << lr1 * f << ", lwc-lr " << lr2 << " -> " << lr2 * f << ", sf " << s
              << " -> " << s * f;
            return a.str();
        };
        const std::string first = expected(letLr, lwcLr, sf, 0.25);
        const std::string second = expected(letLr * 0.25, lwcLr * 0.25, sf * 0.25, 0.25);
        QVERIFY2(actions.seen[0].find(first) != std::string::npos, actions.seen[0].c_str());
        QVERIFY2(actions.seen[1].find(second) != std::string::npos, actions.seen[1].c_str());
    }

    void activationBuffersThatCannotFitAreRefused()
    {
        QTemporaryDir tmp;
        aq::CalibrationRequest r = demoRequest(tmp, "w4a4");
        r.config.nsamples = 4000000;  // ~ 3 TB of activation buffers
        r.config.seqlen = 512;
        bool oom = false;
        try {
            aq::runCalibration(r);
        } catch (const aq::Error& e) {
            oom = e.code() == aq::ErrorCode::OutOfMemory && std::string(e.what()).find("--nsamples") != std::string::npos;
        }
        QVERIFY(oom);
        QVERIFY(!fs::exists(r.runDir));  // refused before anything was written
    }

    void keepDominantKeepsRowsDominant()
    {
        torch::manual_seed(2);
        BlockTransforms t;
        t.s3 = torch::randn({2, 8, 8});
        EpochMasks masks;
        masks.head = torch::ones({8, 8});
        enforceDominance(t, masks);
        auto a = t.s3.abs();
        auto margin = 2 * a.diagonal(0, -2, -1) - a.sum(-1);
        QVERIFY(margin.gt(0).all().item<bool>());
    }

    // Tokenizing in pieces (so that an interrupt is honoured during a long text) gives exactly the ids of one piece,
    // for sentencepiece (dummy prefix: the space at a cut is dropped) and byte-level BPE (the space is kept).
    void cancellableTokenizationMatchesWhole_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<QString>("text");
        QTest::newRow("demo sentencepiece, heldout") << QString::fromStdString(kDemo) << QString::fromStdString(kDemoEval);
        QTest::newRow("demo sentencepiece, novel") << QString::fromStdString(kDemo) << QString::fromStdString(kDemoCalib);
        QTest::newRow("stories260K sentencepiece") << "fixture:models/stories260K-hf" << QString::fromStdString(kDemoEval);
        QTest::newRow("OPT byte-level BPE") << "fixture:models/tiny-random-opt-hf" << QString::fromStdString(kDemoEval);
        QTest::newRow("OPT byte-level BPE, wikitext") << "fixture:models/tiny-random-opt-hf"
                                                      << "fixture:text/wikitext2_test_hf_joined.txt";
    }
    void cancellableTokenizationMatchesWhole()
    {
        QFETCH(QString, model);
        QFETCH(QString, text);
        auto resolve = [](const QString& p) {
            return p.startsWith("fixture:") ? aqtest::fixture(p.mid(8).toStdString()) : p.toStdString();
        };
        const std::string modelDir = resolve(model), textPath = resolve(text);
        if (modelDir.empty() || textPath.empty())
            QSKIP("fixture not found under ../shared/fixtures");
        std::string t = aq::readTextForModel(textPath);
        if (t.size() > 400000)
            t.resize(t.find(' ', 400000));
        const auto tok = aq::loadTokenizer(modelDir);
        const std::vector<int32_t> whole = tok->encodeForModel(t);
        std::atomic<bool> cancel{false};
        for (size_t piece : {size_t(1000), size_t(4096), size_t(65536)})
            QVERIFY2(encodeForModelCancellable(*tok, t, &cancel, piece) == whole, qPrintable(QString::number(piece)));
        cancel = true;
        bool cancelled = false;
        try {
            encodeForModelCancellable(*tok, t, &cancel, 4096);
        } catch (const aq::Error& e) {
            cancelled = e.code() == aq::ErrorCode::Cancelled;
        }
        QVERIFY(cancelled);
    }

    // The finiteness check behind checkpoint loading sees NaN and infinities in every floating type a checkpoint stores.
    void finiteCheckCoversStoredTypes()
    {
        for (const auto type : {torch::kFloat32, torch::kFloat16, torch::kBFloat16, torch::kFloat64}) {
            auto t = torch::ones({4, 3}, type);
            QVERIFY(allFinite(t));
            t[2][1] = std::numeric_limits<float>::quiet_NaN();
            QVERIFY(!allFinite(t));
            QVERIFY2(describeNonFinite(t).find("1 non-finite value (1 NaN, 0 infinite) out of 12, the first at [2, 1]") == 0,
                     describeNonFinite(t).c_str());
            t[2][1] = -std::numeric_limits<float>::infinity();
            QVERIFY(!allFinite(t));
        }
        QVERIFY(allFinite(torch::ones({3}, torch::kInt64)));
    }

    // The run directory's lock is taken by the engine, so the desktop application and the command-line program
    // exclude each other: while another holder has the folder, a run is refused naming its process, even with force.
    void lockedRunDirectoryIsRefused()
    {
        QTemporaryDir tmp;
        aq::CalibrationRequest r = demoRequest(tmp, "w4a16g128");
        r.config.method = aq::Method::Rtn;
        r.force = true;
        {
            RunDirectoryLock other(r.runDir);
            std::string message;
            try {
                aq::runCalibration(r);
            } catch (const aq::Error& e) {
                QCOMPARE(e.code(), aq::ErrorCode::BadInput);
                message = e.what();
            }
            QVERIFY2(message.find("in use") != std::string::npos &&
                         message.find("process " + std::to_string(::getpid())) != std::string::npos,
                     message.c_str());
            QVERIFY(runDirectoryIsEmpty(r.runDir));  // nothing written, nothing removed
        }
        QVERIFY(!fs::exists(r.runDir));  // the holder created the folder and left nothing behind
        aq::runCalibration(r);
        QVERIFY(fs::exists(fs::path(r.runDir) / "run.json"));
        QVERIFY(!fs::exists(fs::path(r.runDir) / RunDirectoryLock::fileName()));
    }

    // Finite weights whose activations overflow: the block's full-precision outputs are refused as bad input naming
    // the block, instead of rollbacks ending in a numerical failure or NaN weights being written.
    void overflowingActivationsAreBadInput_data()
    {
        QTest::addColumn<int>("block");
        QTest::addColumn<int>("epochs");
        QTest::newRow("training fails on the targets") << 1 << 1;
        QTest::newRow("untrained last block") << 3 << 0;
    }
    void overflowingActivationsAreBadInput()
    {
        QFETCH(int, block);
        QFETCH(int, epochs);
        const std::string blockName = "block " + std::to_string(block);
        QTemporaryDir tmp;
        const fs::path model = fs::path(tmp.path().toStdString()) / "model";
        fs::create_directories(model);
        for (const auto& e : fs::directory_iterator(kDemo))
            if (e.path().filename() != "model.safetensors")
                fs::copy_file(e.path(), model / e.path().filename());
        {
            Checkpoint ck(kDemo);
            std::vector<std::pair<std::string, torch::Tensor>> tensors;
            for (const auto& name : ck.names()) {
                torch::Tensor t = ck.load(name).to(torch::kFloat32);
                if (name == "model.layers." + std::to_string(block) + ".mlp.down_proj.weight")
                    t = torch::full_like(t, 3e38f);  // finite, but any sum of two products overflows float32
                tensors.emplace_back(name, t);
            }
            writeSafetensors((model / "model.safetensors").string(), tensors);
        }
        QTemporaryDir out;
        aq::CalibrationRequest r = demoRequest(out, "w4a16g128");
        r.modelDir = model.string();
        r.config.epochs = epochs;
        r.config.maxRecoveries = 1;
        std::string message;
        try {
            aq::runCalibration(r);
        } catch (const aq::Error& e) {
            QCOMPARE(e.code(), aq::ErrorCode::BadInput);
            message = e.what();
        }
        QVERIFY2(message.find("full-precision outputs of " + blockName) != std::string::npos &&
                     message.find("non-finite") != std::string::npos,
                 message.c_str());
        QVERIFY(!fs::exists(fs::path(r.runDir) / "run.json"));
        QVERIFY(!fs::exists(fs::path(r.runDir) / "model"));
    }

    void badInput_data()
    {
        QTest::addColumn<QString>("what");
        QTest::addColumn<QString>("fragment");
        QTest::newRow("bits too high") << "wbits17" << "outside 2..16";
        QTest::newRow("bits too low") << "abits1" << "outside 2..16";
        QTest::newRow("nsamples 0") << "nsamples0" << "--nsamples";
        QTest::newRow("group not dividing, partial off") << "group" << "does not divide";
        QTest::newRow("calibration text too short") << "short" << "fewer than one window";
        QTest::newRow("non-empty run dir") << "nonempty" << "not empty";
        QTest::newRow("resume with nothing") << "resume" << "nothing to resume";
    }
    void badInput()
    {
        QFETCH(QString, what);
        QFETCH(QString, fragment);
        QTemporaryDir tmp;
        aq::CalibrationRequest r = demoRequest(tmp, "w4a16g128");
        if (what == "wbits17")
            r.config.wbits = 17;
        else if (what == "abits1")
            r.config.abits = 1;
        else if (what == "nsamples0")
            r.config.nsamples = 0;
        else if (what == "group") {
            r.config.groupSize = 100;
            r.config.partialGroups = false;
        } else if (what == "short") {
            std::ofstream(tmp.path().toStdString() + "/short.txt") << "A very short text.";
            r.calibTextPath = tmp.path().toStdString() + "/short.txt";
        } else if (what == "nonempty") {
            fs::create_directories(r.runDir);
            std::ofstream(r.runDir + "/keep.txt") << "user data";
        } else if (what == "resume") {
            r.resume = true;
        }
        bool thrown = false;
        try {
            aq::runCalibration(r);
        } catch (const aq::Error& e) {
            thrown = true;
            QCOMPARE(e.code(), aq::ErrorCode::BadInput);
            QVERIFY2(std::string(e.what()).find(fragment.toStdString()) != std::string::npos, e.what());
        }
        QVERIFY(thrown);
        if (what == "nonempty")
            QVERIFY(fs::exists(r.runDir + "/keep.txt"));  // never touched
        bool unknown = false;
        try {
            aq::presetConfig("w5a5");
        } catch (const aq::Error& e) {
            unknown = std::string(e.what()).find("unknown preset") != std::string::npos;
        }
        QVERIFY(unknown);
    }
};

QTEST_APPLESS_MAIN(TestQuantize)
#include "tst_quantize.moc"
