// Perplexity protocol (spec §8.1) against the reference figures of Hugging Face transformers (platform notes).
// LibTorch headers before Qt headers.
#include "checkpoint.h"
#include "model.h"
#include "safetensors.h"

#include "aq/error.h"
#include "aq/device.h"
#include "aq/evaluate.h"
#include "testutil.h"

#include "aq/tokenizer.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace {
// transformers 5.17, float32: stories260K-hf, first 8 windows of 512 tokens of wikitext2_test_hf_joined.txt.
constexpr double kStoriesPpl = 130.3665;

aq::EvalOptions windows(int64_t seqlen, int64_t count)
{
    aq::EvalOptions o;
    o.seqlen = seqlen;
    o.maxWindows = count;
    return o;
}

void expectBadInput(const std::string& model, const std::string& text, const aq::EvalOptions& o, const std::string& fragment)
{
    bool thrown = false;
    try {
        aq::evaluatePerplexity(model, text, o);
    } catch (const aq::Error& e) {
        thrown = true;
        QCOMPARE(e.code(), aq::ErrorCode::BadInput);
        QVERIFY2(std::string(e.what()).find(fragment) != std::string::npos, e.what());
    }
    QVERIFY2(thrown, fragment.c_str());
}
}  // namespace

class TestPerplexity : public QObject {
    Q_OBJECT

private slots:
    void stories260K_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<double>("tolerance");
        QTest::newRow("F32 GQA") << "models/stories260K-hf" << 0.01;
        QTest::newRow("MHA") << "models/stories260K-mha-hf" << 0.01;
        QTest::newRow("bin") << "models/stories260K-hf-bin" << 0.01;
        // Half-precision weights (computed in float32): the rounding of the weights moves the figure slightly.
        QTest::newRow("F16 weights") << "models/stories260K-hf-fp16" << 0.25;
    }
    void stories260K()
    {
        QFETCH(QString, model);
        QFETCH(double, tolerance);
        AQ_REQUIRE_FIXTURE(dir, model.toStdString());
        AQ_REQUIRE_FIXTURE(text, "text/wikitext2_test_hf_joined.txt");
        int64_t lastDone = 0;
        const auto r = aq::evaluatePerplexity(dir, text, windows(512, 8), [&](const aq::EvalProgress& p) {
            QVERIFY(p.done > lastDone);
            lastDone = p.done;
        });
        qInfo("%s: perplexity %.4f (reference %.4f, bound ±%.2f)", qPrintable(model), r.perplexity, kStoriesPpl, tolerance);
        QCOMPARE(r.windows, int64_t(8));
        QCOMPARE(lastDone, int64_t(8));
        QCOMPARE(r.windowNll.size(), size_t(8));
        QVERIFY(std::abs(r.perplexity - kStoriesPpl) <= tolerance);
    }

    void cancelStopsEarly()
    {
        AQ_REQUIRE_FIXTURE(dir, "models/stories260K-hf");
        AQ_REQUIRE_FIXTURE(text, "text/wikitext2_test_hf_joined.txt");
        std::atomic<bool> cancel{false};
        bool thrown = false;
        int64_t seen = 0;
        try {
            aq::evaluatePerplexity(dir, text, windows(512, 8), [&](const aq::EvalProgress& p) {
                seen = p.done;
                if (p.done == 2)
                    cancel = true;
            }, &cancel);
        } catch (const aq::Error& e) {
            thrown = true;
            QCOMPARE(e.code(), aq::ErrorCode::Cancelled);
        }
        QVERIFY(thrown);
        QCOMPARE(seen, int64_t(2));
    }

    void badInput()
    {
        AQ_REQUIRE_FIXTURE(dir, "models/stories260K-hf");
        QTemporaryDir tmp;
        const fs::path d = fs::path(tmp.path().toStdString());
        std::ofstream(d / "empty.txt") << "  \n";
        std::ofstream(d / "short.txt") << "Once upon a time there was a cat.";
        std::ofstream(d / "latin1.txt") << "caf\xe9 au lait, enough text to be a window otherwise";
        std::ofstream(d / "ok.txt") << "Once upon a time there was a cat who liked the sun.";
        expectBadInput(dir, (d / "missing.txt").string(), windows(16, 0), "does not exist");
        expectBadInput(dir, (d / "empty.txt").string(), windows(16, 0), "is empty");
        expectBadInput(dir, (d / "latin1.txt").string(), windows(16, 0), "UTF-8");
        expectBadInput(dir, (d / "short.txt").string(), windows(512, 0), "fewer than one window");
        expectBadInput(dir, (d / "ok.txt").string(), windows(1024, 0), "exceeds the model's maximum of 512");
        aq::EvalOptions o = windows(8, 0);
        o.device = "cuda:7";
        if (!aq::cudaAvailable())
            expectBadInput(dir, (d / "ok.txt").string(), o, "no CUDA");
        o.device = "tpu";
        expectBadInput(dir, (d / "ok.txt").string(), o, "is not valid");
        o.device = "cpu";
        o.dtype = aq::FloatType::Float16;
        expectBadInput(dir, (d / "ok.txt").string(), o, "only supported on CUDA");
        // Missing tokenizer: a copy of the model folder without tokenizer files.
        const fs::path m = d / "model";
        fs::create_directories(m);
        fs::copy_file(fs::path(dir) / "config.json", m / "config.json");
        fs::copy_file(fs::path(dir) / "model.safetensors", m / "model.safetensors");
        expectBadInput(m.string(), (d / "ok.txt").string(), windows(8, 0), "no tokenizer");
    }

    void nonFinitePerplexityAdvice()
    {
        // Finite but extreme weights (a final norm scaled by 1e37) overflow the logits of a float32 run. The message
        // used to advise "with --dtype float16 try bfloat16 or float32" whatever the dtype; for float32 it must not
        // point at another dtype.
        AQ_REQUIRE_FIXTURE(dir, "models/stories260K-hf");
        AQ_REQUIRE_FIXTURE(text, "text/wikitext2_test_hf_joined.txt");
        QTemporaryDir tmp;
        const fs::path copy = tmp.path().toStdString() + "/extreme";
        fs::create_directories(copy);
        for (const auto& e : fs::directory_iterator(dir))
            if (e.path().filename() != "model.safetensors")
                fs::copy_file(e.path(), copy / e.path().filename());
        aq::detail::SafetensorsFile f(dir + "/model.safetensors");
        std::vector<std::pair<std::string, torch::Tensor>> tensors;
        for (const auto& [name, e] : f.entries())
            tensors.emplace_back(name, name == "model.norm.weight" ? f.load(name) * 1e37 : f.load(name));
        aq::detail::writeSafetensors((copy / "model.safetensors").string(), tensors);
        bool thrown = false;
        try {
            aq::evaluatePerplexity(copy.string(), text, windows(64, 1));
        } catch (const aq::Error& e) {
            thrown = true;
            const std::string what = e.what();
            QCOMPARE(e.code(), aq::ErrorCode::Numerical);
            QVERIFY2(what.find("not finite") != std::string::npos, e.what());
            QVERIFY2(what.find("float16") == std::string::npos && what.find("bfloat16") == std::string::npos, e.what());
            QVERIFY2(what.find("in float32") != std::string::npos, e.what());
        }
        QVERIFY(thrown);
    }

    void demoModel()
    {
        // The bundled demo model runs without ../shared. Reference: the fixture's float64 forward pass with Python
        // sentencepiece (tests/golden/make_golden.py -> tests/data/golden_demo_ppl.json).
        const std::string model = aqtest::sourcePath("resources/demo-model");
        const std::string text = aqtest::sourcePath("resources/demo-text/heldout.txt");
        std::ifstream in(aqtest::testData("golden_demo_ppl.json"));
        const nlohmann::json golden = nlohmann::json::parse(in);
        const auto r = aq::evaluatePerplexity(model, text, windows(golden["seqlen"], golden["windows"]));
        const double ref = golden["perplexity"];
        qInfo("demo model: perplexity %.4f (reference %.4f) over %lld windows of %lld", r.perplexity, ref,
              static_cast<long long>(r.windows), static_cast<long long>(r.seqlen));
        QCOMPARE(r.textTokens, golden["text_tokens"].get<int64_t>());
        QVERIFY(std::abs(r.perplexity - ref) / ref < 1e-4);
    }

    void klAgainstReference()
    {
        using namespace aq::detail;
        const std::string demo = aqtest::sourcePath("resources/demo-model");
        const std::string text = aqtest::sourcePath("resources/demo-text/heldout.txt");
        aq::EvalOptions o = windows(128, 2);
        o.referenceModelDir = demo;
        // Against itself: nothing to tell apart.
        auto r = aq::evaluatePerplexity(demo, text, o);
        QVERIFY2(r.meanKl < 1e-9, std::to_string(r.meanKl).c_str());
        QCOMPARE(r.top1Agreement, 1.0);
        QCOMPARE(r.referencePerplexity, r.perplexity);
        // A copy whose final norm is halved computes logits z/2: KL(softmax(z) || softmax(z/2)) at every predicted
        // position, computed here in float64 from the reference's own logits.
        QTemporaryDir tmp;
        const fs::path copy = tmp.path().toStdString() + "/half";
        fs::create_directories(copy);
        for (const auto& e : fs::directory_iterator(demo))
            if (e.path().filename() != "model.safetensors")
                fs::copy_file(e.path(), copy / e.path().filename());
        SafetensorsFile f(demo + "/model.safetensors");
        std::vector<std::pair<std::string, torch::Tensor>> tensors;
        for (const auto& [name, e] : f.entries())
            tensors.emplace_back(name, name == "model.norm.weight" ? f.load(name) * 0.5 : f.load(name));
        writeSafetensors((copy / "model.safetensors").string(), tensors);
        r = aq::evaluatePerplexity(copy.string(), text, o);
        Checkpoint ck(demo);
        CausalLM ref(ck, torch::kCPU, torch::kFloat32);
        auto tokenizer = aq::loadTokenizer(demo);
        const auto ids = tokenizer->encodeForModel(aq::readTextForModel(text));
        double kl = 0;
        int64_t n = 0;
        torch::NoGradGuard ng;
        for (int64_t w = 0; w < 2; ++w) {
            auto x = torch::from_blob(const_cast<int32_t*>(ids.data()) + w * 128, {1, 128}, torch::kInt32).to(torch::kInt64);
            auto z = ref.logits(x).to(torch::kFloat64).narrow(1, 0, 127);
            auto lr = torch::log_softmax(z, -1), lm = torch::log_softmax(z / 2, -1);
            kl += (lr.exp() * (lr - lm)).sum(-1).sum().item<double>();
            n += 127;
        }
        kl /= static_cast<double>(n);
        qInfo("halved final norm: KL %.6g (float64 reference %.6g), top-1 %.4f", r.meanKl, kl, r.top1Agreement);
        QVERIFY(kl > 0.01);
        QVERIFY(std::abs(r.meanKl - kl) < 1e-4 * kl + 1e-6);
        QCOMPARE(r.top1Agreement, 1.0);  // halving every logit keeps the order
        // A reference with another vocabulary is refused.
        AQ_REQUIRE_FIXTURE(stories, "models/stories260K-hf");
        o.referenceModelDir = stories;
        expectBadInput(demo, text, o, "same vocabulary");
    }
};

QTEST_APPLESS_MAIN(TestPerplexity)
#include "tst_perplexity.moc"
