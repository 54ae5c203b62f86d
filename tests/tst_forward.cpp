// Forward pass against independent float64 references (tests/golden/make_golden.py over the fixture scripts).
// LibTorch headers must come before any Qt header.
#include "checkpoint.h"
#include "model.h"

#include "testutil.h"

#include <nlohmann/json.hpp>

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
};

QTEST_APPLESS_MAIN(TestForward)
#include "tst_forward.moc"
