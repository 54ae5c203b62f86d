// The pre-flight rules as a torch-free unit: this test links aq_rules alone (no LibTorch, no engine), and checks over
// every preset, bit width, group size and switch combination on three model shapes that the report keeps its shape
// (the same six format lines in order, a reason wherever a verdict is not plain exact) and that its main rules hold.
#include "aq/export.h"
#include "aq/model_config.h"
#include "aq/quant_config.h"

#include <QtTest>

#include <string>
#include <vector>

namespace {

bool startsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

class TestPreflightRules : public QObject {
    Q_OBJECT

private slots:
    void everyConfigurationHasAWholeReport()
    {
        const std::vector<aq::ModelConfig> models = {
            aq::loadModelConfig(AQ_SOURCE_DIR "/resources/demo-model"),
            // stories260K's shapes (FFN 172: no group size splits it) and a small OPT.
            aq::parseModelConfig(R"({"model_type": "llama", "vocab_size": 512, "hidden_size": 64,
                "intermediate_size": 172, "num_hidden_layers": 5, "num_attention_heads": 8,
                "num_key_value_heads": 4, "max_position_embeddings": 512})", "stories"),
            aq::parseModelConfig(R"({"model_type": "opt", "vocab_size": 1000, "hidden_size": 64, "ffn_dim": 256,
                "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 512,
                "word_embed_proj_dim": 64, "do_layer_norm_before": true})", "opt"),
        };
        using F = aq::ExportFormat;
        using D = aq::Deployability;
        const std::vector<F> order = {F::HuggingFace, F::Awq, F::Gptq, F::Gptq, F::CompressedTensors, F::Gguf};
        int reports = 0;
        for (const aq::ModelConfig& m : models)
            for (const std::string& preset : aq::presetNames())
                for (int wbits : {2, 3, 4, 8, 16})
                    for (int64_t groupSize : {int64_t(0), int64_t(32), int64_t(100)})
                        for (int flags = 0; flags < 16; ++flags) {
                            aq::QuantConfig c = aq::presetConfig(preset);
                            c.wbits = wbits;
                            c.groupSize = groupSize;
                            c.lnMatrix = flags & 1;
                            c.zeroInRange = flags & 2;
                            c.symmetric = flags & 4;
                            if (flags & 8)
                                c.weightGrid = aq::WeightGrid::Q4_K_M;
                            const aq::PreflightReport r = aq::preflight(m, c);
                            ++reports;
                            const std::string what = m.modelType + " " + preset + " W" + std::to_string(wbits) +
                                                     " g" + std::to_string(groupSize) + " flags " + std::to_string(flags);
                            QVERIFY2(!r.model.empty() && !r.transforms.empty(), what.c_str());
                            QCOMPARE(r.formats.size(), order.size());
                            for (size_t i = 0; i < order.size(); ++i) {
                                const aq::FormatCheck& f = r.formats[i];
                                QVERIFY2(f.format == order[i], what.c_str());
                                QVERIFY2(f.verdict != D::Invalid && !f.runtime.empty(), what.c_str());
                                QVERIFY2(f.verdict == D::Exact || !f.reason.empty(), (what + " " + f.runtime).c_str());
                            }
                            const bool llama = m.arch == aq::Architecture::Llama;
                            const bool let = c.let && c.method != aq::Method::Rtn;
                            const bool denseNorm = let && c.lnMatrix;
                            // GGUF: llama.cpp runs LLaMA, weight-only, without dense post-norm matrices.
                            const bool gguf = llama && c.abits == 16 && !denseNorm;
                            QVERIFY2((r.formats[5].verdict != D::No) == gguf, (what + ": " + r.formats[5].reason).c_str());
                            // Unquantized weights block every packed format, and that reason comes first.
                            if (wbits == 16)
                                for (size_t i = 1; i <= 4; ++i)
                                    QVERIFY2(r.formats[i].verdict == D::No &&
                                                 startsWith(r.formats[i].reason, "weights are not quantized"),
                                             (what + ": " + r.formats[i].reason).c_str());
                            // Dense post-norm matrices: hf needs the extension, and the first advice removes them.
                            if (denseNorm) {
                                QVERIFY2(r.formats[0].verdict == D::Extension, what.c_str());
                                QVERIFY2(!r.advice.empty() &&
                                             startsWith(aq::commandLineAdvice(r.advice[0]), "--no-ln-matrix"),
                                         what.c_str());
                            }
                        }
        QVERIFY(reports > 1000);
    }
};

QTEST_APPLESS_MAIN(TestPreflightRules)
#include "tst_preflight_rules.moc"
