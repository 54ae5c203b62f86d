// Forward pass against independent float64 references (tests/golden/make_golden.py over the fixture scripts).
// LibTorch headers must come before any Qt header.
#include "checkpoint.h"
#include "cpu_parallel.h"
#include "model.h"

#include "testutil.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using aq::detail::Checkpoint;
using aq::detail::CausalLM;

namespace {

struct Golden {
    std::vector<int64_t> ids;
    torch::Tensor logits;      // [T, C] over `columns` (or the whole vocabulary)
    std::vector<int64_t> columns;
    nlohmann::json configPatch;
};

Golden readGolden(const std::string& name)
{
    std::ifstream in(aqtest::testData(name));
    nlohmann::json j = nlohmann::json::parse(in);
    Golden g;
    g.ids = j["ids"].get<std::vector<int64_t>>();
    auto rows = j["logits"].get<std::vector<std::vector<double>>>();
    g.logits = torch::empty({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())}, torch::kFloat64);
    for (size_t r = 0; r < rows.size(); ++r)
        for (size_t c = 0; c < rows[r].size(); ++c)
            g.logits[static_cast<int64_t>(r)][static_cast<int64_t>(c)] = rows[r][c];
    if (!j["columns"].is_null())
        g.columns = j["columns"].get<std::vector<int64_t>>();
    g.configPatch = j["config_patch"];
    return g;
}

/// max |ours - ref| / max |ref|
double relativeError(const torch::Tensor& ours, const torch::Tensor& ref)
{
    return (ours.to(torch::kFloat64) - ref).abs().max().item<double>() / ref.abs().max().item<double>();
}

torch::Tensor runLogits(const std::string& modelDir, const Golden& g)
{
    Checkpoint ck(modelDir);
    CausalLM model(ck, torch::Device(torch::kCPU), torch::kFloat32);
    torch::NoGradGuard ng;
    auto ids = torch::tensor(g.ids, torch::kInt64).unsqueeze(0);
    auto lg = model.logits(ids).squeeze(0);
    if (!g.columns.empty())
        lg = lg.index_select(1, torch::tensor(g.columns, torch::kInt64));
    return lg;
}

/// Largest difference from a float64 reference, relative to the reference's largest magnitude.
double relToFloat64(const torch::Tensor& a, const torch::Tensor& ref)
{
    return (a.to(torch::kFloat64) - ref).abs().max().item<double>() / ref.abs().max().item<double>();
}

}  // namespace

class TestForward : public QObject {
    Q_OBJECT

private slots:
    void llamaVariants_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<double>("tolerance");
        // Same weights in float32: 1e-4 relative (the acceptance bound). The fp16 variant's weights are rounded to
        // half precision, so it is compared against the float32 reference with a looser bound.
        QTest::newRow("safetensors F32, GQA") << "models/stories260K-hf" << 1e-4;
        QTest::newRow("duplicated K/V heads (MHA)") << "models/stories260K-mha-hf" << 1e-4;
        QTest::newRow("pytorch_model.bin") << "models/stories260K-hf-bin" << 1e-4;
        QTest::newRow("safetensors F16") << "models/stories260K-hf-fp16" << 5e-3;
    }
    void llamaVariants()
    {
        QFETCH(QString, model);
        QFETCH(double, tolerance);
        AQ_REQUIRE_FIXTURE(dir, model.toStdString());
        const Golden g = readGolden("golden_stories260K.json");
        const double err = relativeError(runLogits(dir, g), g.logits);
        qInfo("%s: relative logit error %.3g (bound %.0e)", qPrintable(model), err, tolerance);
        QVERIFY(err < tolerance);
    }

    void ropeScaling_data()
    {
        QTest::addColumn<QString>("golden");
        QTest::newRow("linear") << "golden_stories260K_rope_linear.json";
        QTest::newRow("llama3") << "golden_stories260K_rope_llama3.json";
    }
    void ropeScaling()
    {
        QFETCH(QString, golden);
        AQ_REQUIRE_FIXTURE(src, "models/stories260K-hf");
        const Golden g = readGolden(golden.toStdString());
        QTemporaryDir tmp;
        const fs::path d = fs::path(tmp.path().toStdString());
        fs::copy_file(fs::path(src) / "model.safetensors", d / "model.safetensors");
        std::ifstream in(fs::path(src) / "config.json");
        nlohmann::json cfg = nlohmann::json::parse(in);
        cfg.merge_patch(g.configPatch);
        std::ofstream(d / "config.json") << cfg.dump();
        const double err = relativeError(runLogits(d.string(), g), g.logits);
        qInfo("rope %s: relative logit error %.3g", qPrintable(golden), err);
        QVERIFY(err < 1e-4);
    }

    void opt()
    {
        AQ_REQUIRE_FIXTURE(dir, "models/tiny-random-opt-hf");
        const Golden g = readGolden("golden_tiny_opt.json");
        const double err = relativeError(runLogits(dir, g), g.logits);
        qInfo("tiny-random-opt: relative logit error %.3g", err);
        QVERIFY(err < 1e-4);
    }

    void gqaAttentionMatchesRepeatedHeads()
    {
        // The grouped path (query heads stacked over shared K/V) against explicit K/V repetition.
        torch::manual_seed(3);
        auto q = torch::randn({2, 8, 9, 16}), k = torch::randn({2, 2, 9, 16}), v = torch::randn({2, 2, 9, 16});
        auto grouped = aq::detail::causalAttention(q, k, v, 0.25);
        auto full = aq::detail::causalAttention(q, k.repeat_interleave(4, 1), v.repeat_interleave(4, 1), 0.25);
        QVERIFY(torch::allclose(grouped, full, 1e-6, 1e-6));
        // Causality: the first position attends to itself only.
        auto first = v.repeat_interleave(4, 1).select(2, 0);
        QVERIFY(torch::allclose(grouped.select(2, 0), first, 1e-6, 1e-6));
    }

    void blockWithBiasesRuns()
    {
        // After AffineQuant merges shifts, LLaMA norms and linears carry biases: they must be applied.
        AQ_REQUIRE_FIXTURE(dir, "models/stories260K-hf");
        Checkpoint ck(dir);
        auto w = aq::detail::loadBlock(ck, 0, torch::Device(torch::kCPU), torch::kFloat32);
        auto rope = aq::detail::makeRopeTables(ck.config(), 5, torch::Device(torch::kCPU), torch::kFloat32);
        torch::manual_seed(4);
        auto x = torch::randn({1, 5, 64});
        auto base = aq::detail::llamaBlock(ck.config(), w, x, rope);
        auto shift = torch::randn({64});
        w.tensors["mlp.down_proj.bias"] = shift;
        auto shifted = aq::detail::llamaBlock(ck.config(), w, x, rope);
        QVERIFY(torch::allclose(shifted - base, shift.expand_as(base), 1e-5, 1e-5));
    }

    // The CPU attention (key/value heads as parallel tasks, hand-written backward) against causal attention written
    // out in float64 tensor operations with autograd: values and the gradients of q, k and v.
    void cpuAttentionMatchesFloat64_data()
    {
        QTest::addColumn<int>("batch");
        QTest::addColumn<int>("heads");
        QTest::addColumn<int>("kvHeads");
        QTest::addColumn<int>("tokens");
        QTest::newRow("grouped query, 2 x (4 heads over 2), 40 tokens") << 2 << 4 << 2 << 40;
        QTest::newRow("multi-head, 1 x 3 heads, 17 tokens") << 1 << 3 << 3 << 17;
        QTest::newRow("one key/value head for 8 queries, 64 tokens") << 1 << 8 << 1 << 64;
        // Longer than one tile of query rows (64): tiles that end on and off a tile boundary.
        QTest::newRow("grouped query, 1 x (4 heads over 2), 200 tokens") << 1 << 4 << 2 << 200;
        QTest::newRow("multi-head, 2 x 2 heads, 128 tokens") << 2 << 2 << 2 << 128;
    }
    void cpuAttentionMatchesFloat64()
    {
        QFETCH(int, batch);
        QFETCH(int, heads);
        QFETCH(int, kvHeads);
        QFETCH(int, tokens);
        const int64_t hd = 8;
        const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
        torch::manual_seed(21);
        auto q0 = torch::randn({batch, heads, tokens, hd}) * 2;
        auto k0 = torch::randn({batch, kvHeads, tokens, hd}) * 2;
        auto v0 = torch::randn({batch, kvHeads, tokens, hd});
        auto w = torch::randn({batch, heads, tokens, hd});

        auto q = q0.clone().requires_grad_(true), k = k0.clone().requires_grad_(true), v = v0.clone().requires_grad_(true);
        auto out = aq::detail::cpuCausalAttention(q, k, v, scale);
        (out * w).sum().backward();

        auto qd = q0.to(torch::kFloat64).requires_grad_(true), kd = k0.to(torch::kFloat64).requires_grad_(true);
        auto vd = v0.to(torch::kFloat64).requires_grad_(true);
        const int64_t groups = heads / kvHeads;
        auto scores = torch::matmul(qd, kd.repeat_interleave(groups, 1).transpose(-1, -2)) * scale;
        auto mask = torch::ones({tokens, tokens}, torch::kBool).triu(1);
        auto ref = torch::matmul(torch::softmax(scores.masked_fill(mask, -INFINITY), -1), vd.repeat_interleave(groups, 1));
        (ref * w.to(torch::kFloat64)).sum().backward();

        QVERIFY2(relToFloat64(out.detach(), ref.detach()) < 1e-5, qPrintable(QString::number(relToFloat64(out.detach(), ref.detach()))));
        QVERIFY2(relToFloat64(q.grad(), qd.grad()) < 1e-5, qPrintable(QString::number(relToFloat64(q.grad(), qd.grad()))));
        QVERIFY2(relToFloat64(k.grad(), kd.grad()) < 1e-5, qPrintable(QString::number(relToFloat64(k.grad(), kd.grad()))));
        QVERIFY2(relToFloat64(v.grad(), vd.grad()) < 1e-5, qPrintable(QString::number(relToFloat64(v.grad(), vd.grad()))));
        // The model's attention takes this path on the CPU: same values through causalAttention.
        QVERIFY(torch::allclose(aq::detail::causalAttention(q0, k0, v0, scale), out.detach(), 0, 0));
    }

    // The CPU's product for the transforms (productOnCores: oneDNN's or the BLAS library's product in row blocks)
    // with operands in every layout its callers pass: a 3-D input, a transposed (column-major) right operand, a
    // transposed left operand, a slice with a leading dimension larger than its width; values and gradients against
    // float64 autograd.
    void productOnCoresMatchesFloat64()
    {
        torch::manual_seed(8);
        const auto a3 = torch::randn({3, 70, 24});
        const auto bT = torch::randn({17, 24}).t();               // [24, 17], columns contiguous
        const auto aT = torch::randn({24, 130}).t();              // [130, 24], columns contiguous
        const auto wide = torch::randn({24, 40}).narrow(1, 5, 17); // [24, 17], leading dimension 40
        for (const auto& [a0, b0] : {std::make_pair(a3, bT), std::make_pair(aT, wide), std::make_pair(a3, wide)}) {
            auto a = a0.clone().requires_grad_(true);
            auto b = b0.detach().requires_grad_(true);  // keeps b0's strides
            QCOMPARE(b.strides(), b0.strides());
            auto y = aq::detail::productOnCores(a.dim() == 2 ? a.t().t() : a, b);
            auto w = torch::randn(y.sizes());
            (y * w).sum().backward();
            auto ad = a0.to(torch::kFloat64).requires_grad_(true), bd = b0.to(torch::kFloat64).requires_grad_(true);
            auto ref = torch::matmul(ad, bd);
            (ref * w.to(torch::kFloat64)).sum().backward();
            QVERIFY2(relToFloat64(y.detach(), ref.detach()) < 1e-5, qPrintable(QString::number(relToFloat64(y.detach(), ref.detach()))));
            QVERIFY2(relToFloat64(a.grad(), ad.grad()) < 1e-5, qPrintable(QString::number(relToFloat64(a.grad(), ad.grad()))));
            QVERIFY2(relToFloat64(b.grad(), bd.grad()) < 1e-5, qPrintable(QString::number(relToFloat64(b.grad(), bd.grad()))));
        }
    }

    // The CPU linear layer (row blocks on the thread pool, hand-written backward) against float64 torch::linear with
    // autograd, with and without a bias, with row counts that do and do not divide into the blocks.
    void cpuLinearMatchesFloat64_data()
    {
        QTest::addColumn<int>("rows");
        QTest::addColumn<bool>("bias");
        QTest::newRow("3 x 171 rows, bias") << 171 << true;
        QTest::newRow("2 x 512 rows, no bias") << 512 << false;
        QTest::newRow("3 x 5 rows (one block)") << 5 << true;
    }
    void cpuLinearMatchesFloat64()
    {
        QFETCH(int, rows);
        QFETCH(bool, bias);
        torch::manual_seed(8);
        const int64_t in = 96, out = 200;
        auto x0 = torch::randn({rows == 512 ? 2 : 3, rows, in});
        auto w0 = torch::randn({out, in}) * 0.1;
        auto b0 = bias ? torch::randn({out}) : torch::Tensor();
        auto g = torch::randn({x0.size(0), rows, out});
        auto x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
        auto b = bias ? b0.clone().requires_grad_(true) : torch::Tensor();
        auto y = aq::detail::cpuLinear(x, w, b);
        (y * g).sum().backward();
        auto xd = x0.to(torch::kFloat64).requires_grad_(true), wd = w0.to(torch::kFloat64).requires_grad_(true);
        auto bd = bias ? b0.to(torch::kFloat64).requires_grad_(true) : torch::Tensor();
        auto ref = torch::linear(xd, wd, bd);
        (ref * g.to(torch::kFloat64)).sum().backward();
        QCOMPARE(y.sizes(), ref.sizes());
        QVERIFY2(relToFloat64(y.detach(), ref.detach()) < 1e-5, qPrintable(QString::number(relToFloat64(y.detach(), ref.detach()))));
        QVERIFY2(relToFloat64(x.grad(), xd.grad()) < 1e-5, qPrintable(QString::number(relToFloat64(x.grad(), xd.grad()))));
        QVERIFY2(relToFloat64(w.grad(), wd.grad()) < 1e-5, qPrintable(QString::number(relToFloat64(w.grad(), wd.grad()))));
        if (bias)
            QVERIFY2(relToFloat64(b.grad(), bd.grad()) < 1e-5, qPrintable(QString::number(relToFloat64(b.grad(), bd.grad()))));
    }
};

QTEST_APPLESS_MAIN(TestForward)
#include "tst_forward.moc"
