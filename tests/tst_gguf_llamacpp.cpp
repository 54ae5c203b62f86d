// GGUF exports in the real llama.cpp: short weight-only runs are exported with `affinequant export --format gguf` and
// loaded by aq-llama-check (llama.cpp's prebuilt libraries, installed by tools/install-deps.sh), which must tokenize
// the held-out text into our token ids, decode every quantized linear to the run's grid (up to the fp16 rounding of the
// block factors), and give the perplexity that `affinequant eval` gives for the run's own model over the same windows.
// Cases: the demo model (sentencepiece) with groups of 128 (Q4_1), per channel, symmetric (Q4_0), and calibrated on
// each of the five k-quant grids (Q4_K ... Q2_K, whose decoding must equal the run's weights bit for bit); small
// models of our own making (aq-make-synthetic, random weights) as qwen2 with GPT-2's vocab.json + merges.txt and as
// llama with a tokenizer.json using LLaMA-3's pre-tokenizer (these two need the GPT-2 tokenizer of
// ../shared/fixtures).
//
// Without llama.cpp the test is skipped (exit status 77), except under CI (the environment variable CI set), where it
// fails and says to run tools/install-deps.sh.
#include "aq/evaluate.h"
#include "aq/tokenizer.h"
#include "llamacpp_checker.h"
#include "testutil.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

namespace fs = std::filesystem;

namespace {

using namespace llamacpp;

const QString kDemo = QStringLiteral(AQ_SOURCE_DIR "/resources/demo-model");
const QString kCalib = QStringLiteral(AQ_SOURCE_DIR "/resources/demo-text/train/northangerabbey.txt");
const QString kHeldout = QStringLiteral(AQ_SOURCE_DIR "/resources/demo-text/heldout.txt");
const QString kSeqlen = QStringLiteral("256");
const QString kWindows = QStringLiteral("16");

// Agreement of llama.cpp (F32 KV cache, no flash attention: aq-llama-check's defaults) with `affinequant eval`
// (float32). Measured on the demo model: with the same weights in F32 tensors the two agree to 1.5e-7 in perplexity
// (largest window NLL difference 6e-7), and the fp16 block factors of the export change our own perplexity by 2.6e-5;
// what remains is llama.cpp's quantized matrix product, which rounds the activations to 8-bit blocks (Q8_1) before
// multiplying them with Q4_1 weights: 5.0e-4 relative in perplexity, 2.1e-3 at most in one window's NLL (of about 3.1,
// so 6.8e-4 of it). That rounding grows with the logits, so the window limit is relative to the window's NLL: the
// random-weight models of our own making (NLL about 13.8) differ by up to 6.5e-3 (4.8e-4 of it) and 1.0e-3 relative
// in perplexity. The limits leave a margin of 2x to 3x; a wrong group, row order or tokenizer moves the perplexity by
// far more, and llamaCppDecodesTheRunGrid checks the weights element by element.
// The k-quant types multiply with activations rounded to Q8_K instead: 8-bit codes under one float scale per 256
// values rather than per 32, so coarser. Measured on the demo model (the five k-quant cases below): up to 8.1e-4
// relative in perplexity (inside the limit above) and 2.2e-3 in one window's NLL, against which the window limit of
// those cases leaves a margin of 2.3x. The weights themselves are checked bit for bit there.
constexpr double kMaxRelativePerplexityDiff = 2e-3;
constexpr double kMaxRelativeWindowNllDiff = 1.6e-3;
constexpr double kMaxRelativeWindowNllDiffKQuant = 5e-3;


struct Floats {
    std::vector<int64_t> shape;
    std::vector<float> v;
};

/// The float32 tensors of a safetensors file (the run's model folder is float32 throughout).
std::map<std::string, Floats> readSafetensors(const QString& path)
{
    std::map<std::string, Floats> r;
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return r;
    const QByteArray all = f.readAll();
    quint64 n = 0;
    if (all.size() < 8)
        return r;
    std::memcpy(&n, all.constData(), 8);
    const QJsonObject header = QJsonDocument::fromJson(all.mid(8, static_cast<qsizetype>(n))).object();
    const char* data = all.constData() + 8 + n;
    for (auto it = header.begin(); it != header.end(); ++it) {
        const QJsonObject e = it.value().toObject();
        if (it.key() == "__metadata__" || e.value("dtype").toString() != "F32")
            continue;
        Floats t;
        for (const auto& d : e.value("shape").toArray())
            t.shape.push_back(d.toInteger());
        const QJsonArray off = e.value("data_offsets").toArray();
        const qint64 begin = off[0].toInteger();
        t.v.resize(static_cast<size_t>((off[1].toInteger() - begin) / 4));
        std::memcpy(t.v.data(), data + begin, t.v.size() * 4);
        r[it.key().toStdString()] = std::move(t);
    }
    return r;
}

QJsonObject readJsonFile(const QString& path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? QJsonDocument::fromJson(f.readAll()).object() : QJsonObject{};
}

QJsonObject parseJson(const QByteArray& out)
{
    QJsonParseError e{};
    const QJsonDocument d = QJsonDocument::fromJson(out, &e);
    return d.isObject() ? d.object() : QJsonObject{};
}

} // namespace

class TestGgufLlamaCpp : public QObject {
    Q_OBJECT

    /// One model, run, export and the two evaluations of it.
    struct Case {
        QString runDir;
        QString gguf;
        QString tokensPath;
        bool rotaryPermuted = true;  // llama architecture: q/k rows in llama.cpp's rotary order
        bool kquant = false;         // calibrated on a k-quant grid (--weight-grid)
        QJsonObject llama;           // aq-llama-check --json
        QJsonObject eval;            // affinequant eval --json
    };
    QTemporaryDir m_tmp;
    std::map<QString, Case> m_cases;
    QStringList m_order;

    void mustRun(const QString& program, const QStringList& args, int timeoutMs, QByteArray* out = nullptr)
    {
        const Run r = run(program, args, timeoutMs);
        QVERIFY2(r.exitCode == 0, describe(program, args, r).constData());
        if (out)
            *out = r.out;
    }

    /// Quantizes `model` with `quantizeArgs`, exports it to GGUF and evaluates both ways.
    void prepare(const QString& name, const QString& model, const QStringList& quantizeArgs, bool rotaryPermuted)
    {
        const QString cli = QStringLiteral(AQ_CLI_PATH);
        const QString tag = QString::number(m_order.size());
        Case c;
        c.runDir = m_tmp.filePath("run-" + tag);
        c.gguf = m_tmp.filePath("model-" + tag + ".gguf");
        c.tokensPath = m_tmp.filePath("tokens-" + tag + ".txt");
        c.rotaryPermuted = rotaryPermuted;
        c.kquant = quantizeArgs.contains(QStringLiteral("--weight-grid"));
        QElapsedTimer t;
        t.start();
        mustRun(cli, QStringList{"quantize", "--model", model, "--calib", kCalib, "--out", c.runDir} + quantizeArgs,
                600000);
        const qint64 quantizeMs = t.restart();
        mustRun(cli, {"export", "--run", c.runDir, "--format", "gguf", "--out", c.gguf}, 300000);
        const qint64 exportMs = t.restart();
        QByteArray out;
        mustRun(kChecker,
                {"--model", c.gguf, "--text", kHeldout, "--seqlen", kSeqlen, "--max-windows", kWindows, "--tokens-out",
                 c.tokensPath, "--json"},
                300000, &out);
        c.llama = parseJson(out);
        QVERIFY2(!c.llama.isEmpty(), out.constData());
        const qint64 llamaMs = t.restart();
        mustRun(cli,
                {"eval", "--model", c.runDir + "/model", "--text", kHeldout, "--seqlen", kSeqlen, "--max-windows",
                 kWindows, "--json"},
                300000, &out);
        c.eval = parseJson(out);
        QVERIFY2(!c.eval.isEmpty(), out.constData());
        qInfo("%s: quantize %.1f s, export %.1f s, llama.cpp %.1f s, eval %.1f s", qPrintable(name), quantizeMs / 1e3,
              exportMs / 1e3, llamaMs / 1e3, t.elapsed() / 1e3);
        m_cases[name] = c;
        m_order << name;
    }

    void addCaseRows()
    {
        QTest::addColumn<QString>("name");
        for (const QString& n : m_order)
            QTest::newRow(qPrintable(n)) << n;
    }

private slots:
    void initTestCase()
    {
        QVERIFY(m_tmp.isValid());
        // A short weight-only AffineQuant run (4-bit, groups of 128, no post-norm matrices: foldable into the weights).
        prepare("demo, affinequant w4 g128 (Q4_1)", kDemo,
                {"--preset", "w4a16g128", "--nsamples", "8", "--seqlen", "256", "--epochs", "2"}, true);
        prepare("demo, rtn w4 per channel symmetric (Q4_0)", kDemo,
                {"--preset", "w4a16", "--method", "rtn", "--symmetric", "--nsamples", "4", "--seqlen", "64"}, true);
        // llama.cpp's k-quant grids, calibrated as the file stores them (--weight-grid): two AffineQuant runs and RTN
        // for the other three types.
        prepare("demo, affinequant q4_k (Q4_K)", kDemo,
                {"--preset", "w4a16", "--weight-grid", "q4_k", "--nsamples", "8", "--seqlen", "256", "--epochs", "2"},
                true);
        prepare("demo, affinequant q3_k (Q3_K)", kDemo,
                {"--preset", "w3a16", "--weight-grid", "q3_k", "--nsamples", "8", "--seqlen", "256", "--epochs", "2"},
                true);
        // GPTQ rounding: the same grids, other codes; llama.cpp must still decode exactly the run's weights.
        prepare("demo, affinequant q4_k_m + GPTQ rounding (Q4_K, Q6_K)", kDemo,
                {"--preset", "w4a16", "--weight-grid", "q4_k_m", "--gptq-rounding", "--nsamples", "8", "--seqlen",
                 "256", "--epochs", "2"},
                true);
        prepare("demo, affinequant w4 g128 + GPTQ rounding (Q4_1)", kDemo,
                {"--preset", "w4a16g128", "--gptq-rounding", "--nsamples", "8", "--seqlen", "256", "--epochs", "2"},
                true);
        for (const char* grid : {"q2_k", "q5_k", "q6_k"})
            prepare(QStringLiteral("demo, rtn %1 (%2)").arg(QLatin1String(grid), QString::fromLatin1(grid).toUpper()),
                    kDemo, {"--method", "rtn", "--weight-grid", grid, "--nsamples", "4", "--seqlen", "64"}, true);
        const std::string gpt2 = aqtest::fixture("tokenizers/gpt2");
        if (gpt2.empty()) {
            qInfo("fixture tokenizers/gpt2 not found under %s: the byte-level BPE cases are left out", AQ_FIXTURES_DIR);
            return;
        }
        const QString synth = QStringLiteral(AQ_MAKE_SYNTHETIC_PATH);
        const QString qwen = m_tmp.filePath("tiny-qwen2"), llama3 = m_tmp.filePath("tiny-llama3bpe");
        mustRun(synth, {"--shape", "tiny", "--model-type", "qwen2", "--bpe", QString::fromStdString(gpt2), "--out", qwen,
                        "--seed", "3"},
                120000);
        mustRun(synth, {"--shape", "tiny", "--model-type", "llama", "--bpe", QString::fromStdString(gpt2), "--bpe-json",
                        "llama3", "--out", llama3, "--seed", "4"},
                120000);
        const QStringList rtnGroups = {"--preset", "w4a16g128", "--method", "rtn", "--group-size", "32", "--nsamples",
                                       "4", "--seqlen", "64"};
        prepare("qwen2, GPT-2 vocab.json + merges.txt (Q4_1 g32)", qwen, rtnGroups, false);
        prepare("llama, tokenizer.json with LLaMA-3's pre-tokenizer (Q4_1 g32)", llama3, rtnGroups, true);
    }

    void tokenIdsMatch_data() { addCaseRows(); }
    void tokenIdsMatch()
    {
        QFETCH(QString, name);
        const Case& c = m_cases.at(name);
        std::vector<int32_t> theirs;
        std::ifstream in(c.tokensPath.toStdString());
        for (int32_t id = 0; in >> id;)
            theirs.push_back(id);
        const auto tokenizer = aq::loadTokenizer((c.runDir + "/model").toStdString());
        const std::vector<int32_t> ours = tokenizer->encodeForModel(aq::readTextForModel(kHeldout.toStdString()));
        size_t first = 0;
        while (first < ours.size() && first < theirs.size() && ours[first] == theirs[first])
            ++first;
        if (first < ours.size() || first < theirs.size()) {
            QString context;
            for (size_t i = first >= 3 ? first - 3 : 0; i < first + 4; ++i)
                context += QStringLiteral(" %1:%2/%3")
                               .arg(i)
                               .arg(i < ours.size() ? QString::number(ours[i]) : QStringLiteral("-"))
                               .arg(i < theirs.size() ? QString::number(theirs[i]) : QStringLiteral("-"));
            QFAIL(qPrintable(QStringLiteral("token ids differ from position %1 of %2 (ours) / %3 (llama.cpp); "
                                            "position:ours/llama.cpp%4")
                                 .arg(first)
                                 .arg(ours.size())
                                 .arg(theirs.size())
                                 .arg(context)));
        }
        QCOMPARE(c.llama.value("text_tokens").toInteger(), static_cast<qint64>(ours.size()));
        QCOMPARE(c.eval.value("text_tokens").toInteger(), static_cast<qint64>(ours.size()));
        QCOMPARE(c.llama.value("add_bos").toBool(), tokenizer->addBos());
    }

    void llamaCppDecodesTheRunGrid_data() { addCaseRows(); }
    void llamaCppDecodesTheRunGrid()
    {
        QFETCH(QString, name);
        const Case& c = m_cases.at(name);
        // llama.cpp's own decoding (ggml's to_float) of every tensor of the file, against the run's model: quantized
        // linears are the run's grid s * (q - z) with s and -s * z rounded to fp16, so each weight may move by half an
        // fp16 step of each, 2^-11 * (qmax * |s| + |s * z|) (plus fp16's subnormal step and float32 rounding); the
        // embeddings (F16) by 2^-11 * |w|; the norms (F32) not at all. Rows of attn_q and attn_k are in llama.cpp's
        // rotary layout (the two halves of each head interleaved), mapped back here.
        const QString out = m_tmp.filePath("dequant.f32");
        QByteArray listingJson;
        mustRun(kChecker, {"--dequant", c.gguf, "--out", out, "--json"}, 300000, &listingJson);
        const QJsonObject listing = parseJson(listingJson);
        QFile f(out);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray decodedBytes = f.readAll();
        QCOMPARE(decodedBytes.size(), listing.value("floats").toInteger() * 4);
        const auto* decoded = reinterpret_cast<const float*>(decodedBytes.constData());

        const QJsonObject config = readJsonFile(c.runDir + "/model/config.json");
        const int64_t heads = config.value("num_attention_heads").toInteger();
        const int64_t kvHeads = config.value("num_key_value_heads").toInteger(heads);
        const int64_t headDim = config.value("hidden_size").toInteger() / heads;
        const int64_t layers = config.value("num_hidden_layers").toInteger();
        const double qmax =
            std::ldexp(1.0, static_cast<int>(config.value("affinequant").toObject().value("wbits").toInteger())) - 1;
        QVERIFY(heads > 0 && headDim > 0 && qmax >= 1);
        const auto weights = readSafetensors(c.runDir + "/model/model.safetensors");
        const auto grid = readSafetensors(c.runDir + "/model/quantization.safetensors");
        QVERIFY(!weights.empty() && !grid.empty());

        const std::map<std::string, std::string> linears = {
            {"attn_q", "self_attn.q_proj"},      {"attn_k", "self_attn.k_proj"}, {"attn_v", "self_attn.v_proj"},
            {"attn_output", "self_attn.o_proj"}, {"ffn_gate", "mlp.gate_proj"},  {"ffn_up", "mlp.up_proj"},
            {"ffn_down", "mlp.down_proj"}};
        const std::map<std::string, std::string> norms = {{"attn_norm", "input_layernorm"},
                                                          {"ffn_norm", "post_attention_layernorm"}};
        const std::regex blockTensor(R"(blk\.(\d+)\.(\w+)\.weight)");
        const double fp16Step = std::ldexp(1.0, -11);
        const double fp16Subnormal = std::ldexp(1.0, -25);
        int checkedLinears = 0, kquantLinears = 0;
        double worstRatio = 0;
        std::string worstName;
        for (const auto& entry : listing.value("tensors").toArray()) {
            const QJsonObject t = entry.toObject();
            const std::string name = t.value("name").toString().toStdString();
            const float* d = decoded + t.value("float_offset").toInteger();
            std::smatch m;
            std::string hf;
            bool linear = false;
            bool rotary = false;
            int64_t rotaryHeads = 0;
            if (name == "token_embd.weight") {
                hf = "model.embed_tokens.weight";
            } else if (name == "output.weight") {
                hf = "lm_head.weight";
            } else if (name == "output_norm.weight") {
                hf = "model.norm.weight";
            } else if (std::regex_match(name, m, blockTensor)) {
                const std::string prefix = "model.layers." + m[1].str() + ".";
                if (linears.count(m[2].str())) {
                    hf = prefix + linears.at(m[2].str()) + ".weight";
                    linear = true;
                    rotary = c.rotaryPermuted && (m[2].str() == "attn_q" || m[2].str() == "attn_k");
                    rotaryHeads = m[2].str() == "attn_q" ? heads : kvHeads;
                } else if (norms.count(m[2].str())) {
                    hf = prefix + norms.at(m[2].str()) + ".weight";
                }
            }
            if (hf.empty())
                continue; // biases: the norms' shifts are folded into them, which the perplexity check covers
            QVERIFY2(weights.count(hf), ("the run has no tensor " + hf + " for " + name).c_str());
            const Floats& w = weights.at(hf);
            QCOMPARE(t.value("elements").toInteger(), static_cast<qint64>(w.v.size()));
            const int64_t cols = w.shape.back();
            const int64_t rows = static_cast<int64_t>(w.v.size()) / cols;
            const Floats* scales = nullptr;
            const Floats* zeros = nullptr;
            // A k-quant grid (its factors are in quantization.safetensors): llama.cpp's float32 decoding must give
            // the run's float32 weights bit for bit.
            bool kquant = false;
            if (linear) {
                const std::string base = hf.substr(0, hf.size() - std::strlen(".weight"));
                kquant = grid.count(base + ".kq_d") > 0;
                if (kquant)
                    ++kquantLinears;
            }
            if (linear) {
                const std::string base = hf.substr(0, hf.size() - std::strlen(".weight"));
                QVERIFY2(grid.count(base + ".scales") && grid.count(base + ".zeros"), base.c_str());
                scales = &grid.at(base + ".scales");
                zeros = &grid.at(base + ".zeros");
                ++checkedLinears;
            }
            for (int64_t r = 0; r < rows; ++r) {
                int64_t gr = r; // the row's position in the file
                if (rotary) {
                    const int64_t h = r / headDim, i = r % headDim, half = headDim / 2;
                    QVERIFY(h < rotaryHeads);
                    gr = h * headDim + 2 * (i % half) + i / half;
                }
                for (int64_t c = 0; c < cols; ++c) {
                    const double ours = w.v[static_cast<size_t>(r * cols + c)];
                    const double theirs = d[gr * cols + c];
                    double bound = 0;
                    if (kquant) {
                        const float o = w.v[static_cast<size_t>(r * cols + c)], t = d[gr * cols + c];
                        if (std::memcmp(&o, &t, sizeof(float)) != 0)
                            QFAIL(qPrintable(QStringLiteral("%1 (%2) row %3 column %4: llama.cpp decodes %5, the run's "
                                                            "calibrated grid has %6 (they must be the same float)")
                                                 .arg(QString::fromStdString(name), QString::fromStdString(hf))
                                                 .arg(r)
                                                 .arg(c)
                                                 .arg(double(t), 0, 'g', 9)
                                                 .arg(double(o), 0, 'g', 9)));
                        continue;
                    }
                    if (linear) {
                        const int64_t groups = scales->shape.back();
                        const size_t gi = static_cast<size_t>(r * groups + c / (cols / groups));
                        const double s = std::abs(scales->v[gi]);
                        bound = fp16Step * (qmax * s + std::abs(s * zeros->v[gi])) * 1.001 +
                                fp16Subnormal * (qmax + 1) + 1e-7 * std::abs(ours);
                    } else if (name == "token_embd.weight" || name == "output.weight") {
                        bound = fp16Step * std::abs(ours) + fp16Subnormal;
                    }
                    const double diff = std::abs(ours - theirs);
                    if (diff > bound)
                        QFAIL(
                            qPrintable(QStringLiteral("%1 (%2) row %3 column %4: llama.cpp decodes %5, the run has %6 "
                                                      "(allowed difference %7)")
                                           .arg(QString::fromStdString(name), QString::fromStdString(hf))
                                           .arg(r)
                                           .arg(c)
                                           .arg(theirs, 0, 'g', 9)
                                           .arg(ours, 0, 'g', 9)
                                           .arg(bound, 0, 'g', 3)));
                    if (bound > 0 && diff / bound > worstRatio) {
                        worstRatio = diff / bound;
                        worstName = name;
                    }
                }
            }
        }
        QCOMPARE(checkedLinears, static_cast<int>(7 * layers));
        if (kquantLinears > 0) {
            QCOMPARE(kquantLinears, checkedLinears);
            qInfo("llama.cpp's decoding of %d k-quant linears equals the run's calibrated weights bit for bit",
                  kquantLinears);
            return;
        }
        qInfo(
            "llama.cpp's decoding of %d quantized linears matches the run's grid; largest difference %.2f of the fp16 "
            "rounding bound (%s)",
            checkedLinears, worstRatio, worstName.c_str());
    }

    /// --token-embedding-type q6_k on the GPTQ-rounded q4_k_m run: `affinequant verify` requires the file's
    /// embeddings to be the run's rounded to Q6_K bit for bit (with our reader); here llama.cpp's own decoding of them
    /// must lie within Q6_K's rounding of the run's embeddings: a whole step (1/32 of the largest |w| of the 16-value
    /// sub-block: the extreme of larger magnitude takes code -32, so a value of the same magnitude and other sign,
    /// which would need +32, is clamped to 31), plus what rounding the sub-block's scale to an 8-bit multiple of the
    /// super-block factor d (1/127 of the largest scale) moves a code of up to 32 steps: 32 / 254 of the largest scale,
    /// 1/254 of the super-block's largest |w|, taken twice for margin.
    void q6kEmbeddingsDecodeInLlamaCpp()
    {
        const QString name = QStringLiteral("demo, affinequant q4_k_m + GPTQ rounding (Q4_K, Q6_K)");
        QVERIFY(m_cases.count(name));
        const Case& c = m_cases.at(name);
        const QString cli = QStringLiteral(AQ_CLI_PATH);
        const QString gguf = m_tmp.filePath("q6k-embeddings.gguf");
        QByteArray out;
        mustRun(cli, {"export", "--run", c.runDir, "--format", "gguf", "--token-embedding-type", "q6_k", "--out", gguf},
                300000, &out);
        QVERIFY2(out.contains("token embeddings (also the tied output layer) as Q6_K"), out.constData());
        mustRun(cli, {"verify", "--run", c.runDir, "--export", gguf, "--max-windows", "2", "--seqlen", "128"}, 300000,
                &out);
        QVERIFY2(out.contains("verification passed"), out.constData());
        const QString dq = m_tmp.filePath("q6k-embeddings.f32");
        QByteArray listingJson;
        mustRun(kChecker, {"--dequant", gguf, "--out", dq, "--json"}, 300000, &listingJson);
        const QJsonObject listing = parseJson(listingJson);
        QFile f(dq);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray bytes = f.readAll();
        const auto* decoded = reinterpret_cast<const float*>(bytes.constData());
        const auto weights = readSafetensors(c.runDir + "/model/model.safetensors");
        const Floats& emb = weights.at("model.embed_tokens.weight");
        bool found = false;
        for (const auto& entry : listing.value("tensors").toArray()) {
            const QJsonObject t = entry.toObject();
            if (t.value("name").toString() != QLatin1String("token_embd.weight"))
                continue;
            found = true;
            QCOMPARE(t.value("type").toString().toUpper(), QStringLiteral("Q6_K"));
            const float* d = decoded + t.value("float_offset").toInteger();
            const size_t n = emb.v.size();
            int64_t beyond = 0;
            double worst = 0;
            for (size_t s = 0; s < n; s += 256) {
                float superMax = 0;
                for (size_t j = s; j < s + 256; ++j)
                    superMax = std::max(superMax, std::abs(emb.v[j]));
                for (size_t i = s; i < s + 256; i += 16) {
                    float amax = 0;
                    for (size_t j = i; j < i + 16; ++j)
                        amax = std::max(amax, std::abs(emb.v[j]));
                    const double bound = amax / 32.0 + superMax / 128.0 + 1e-7;
                    for (size_t j = i; j < i + 16; ++j) {
                        const double diff = std::abs(static_cast<double>(d[j]) - emb.v[j]);
                        worst = std::max(worst, diff / bound);
                        if (diff > bound)
                            ++beyond;
                    }
                }
            }
            qInfo("token_embd as Q6_K: llama.cpp's values differ from the run's by at most %.3f of the bound", worst);
            QCOMPARE(beyond, int64_t(0));
        }
        QVERIFY(found);
    }

    void mixedGridsChooseAsLlamaCpp()
    {
        // The mixed grids give each linear the type llama.cpp's quantizer gives it for the file type of the same name:
        // a model of our own making with 32 blocks and 8 query heads per key/value head (the depth and head sharing
        // its rules look at) is exported once as F16 and quantized by llama.cpp itself (llama_model_quantize, as
        // llama-quantize without an importance matrix), and once calibrated on each mixed grid (RTN) and exported;
        // the types of every block linear must agree. (Token embeddings differ by design: our exports keep them F16.)
        const QString cli = QStringLiteral(AQ_CLI_PATH);
        const QString model = m_tmp.filePath("kquant-model");
        mustRun(QStringLiteral(AQ_MAKE_SYNTHETIC_PATH),
                {"--shape", "kquant", "--out", model, "--tokenizer", kDemo + "/tokenizer.model", "--seed", "5"}, 120000);
        auto typesOf = [&](const QString& gguf) {
            QByteArray out;
            mustRun(kChecker, {"--dequant", gguf, "--out", m_tmp.filePath("types.f32"), "--json"}, 300000, &out);
            std::map<QString, QString> types;
            for (const auto& t : parseJson(out).value("tensors").toArray()) {
                const QString name = t.toObject().value("name").toString();
                if (name.startsWith(QLatin1String("blk.")) && !name.contains(QLatin1String("norm")) &&
                    name.endsWith(QLatin1String(".weight")))
                    types[name] = t.toObject().value("type").toString().toUpper();
            }
            return types;
        };
        const QString base = m_tmp.filePath("kquant-f16");
        mustRun(cli, {"quantize", "--model", model, "--calib", kCalib, "--method", "rtn", "--wbits", "16", "--nsamples",
                      "2", "--seqlen", "64", "--out", base},
                300000);
        mustRun(cli, {"export", "--run", base, "--format", "gguf", "--out", base + ".gguf"}, 300000);
        const std::pair<const char*, const char*> kMixes[] = {{"q4_k_m", "Q4_K_M"}, {"q3_k_m", "Q3_K_M"},
                                                              {"q2_k_m", "Q2_K"}};
        for (const auto& [grid, ftype] : kMixes) {
            const QString theirs = m_tmp.filePath(QStringLiteral("llama-%1.gguf").arg(QLatin1String(ftype)));
            mustRun(kChecker, {"--quantize", base + ".gguf", "--ftype", ftype, "--out", theirs}, 300000);
            const QString run = m_tmp.filePath(QStringLiteral("kquant-%1").arg(QLatin1String(grid)));
            mustRun(cli, {"quantize", "--model", model, "--calib", kCalib, "--method", "rtn", "--weight-grid", grid,
                          "--nsamples", "2", "--seqlen", "64", "--out", run},
                    300000);
            mustRun(cli, {"export", "--run", run, "--format", "gguf", "--out", run + ".gguf"}, 300000);
            const auto expected = typesOf(theirs), ours = typesOf(run + ".gguf");
            QCOMPARE(expected.size(), size_t(32 * 7));
            std::map<QString, int> counts;
            for (const auto& [name, type] : expected) {
                QVERIFY2(ours.count(name), qPrintable(name + " is missing from our file"));
                QVERIFY2(ours.at(name) == type, qPrintable(QStringLiteral("%1 (%2): llama.cpp chose %3, we wrote %4")
                                                               .arg(name, QLatin1String(grid), type, ours.at(name))));
                ++counts[type];
            }
            QString summary;
            for (const auto& [type, n] : counts)
                summary += QStringLiteral(" %1 x%2").arg(type).arg(n);
            qInfo("%s: every block linear has llama.cpp's %s type:%s", grid, ftype, qPrintable(summary));
        }
    }

    void perplexityMatchesEval_data() { addCaseRows(); }
    void perplexityMatchesEval()
    {
        QFETCH(QString, name);
        const Case& c = m_cases.at(name);
        const QJsonObject& llamaJson = c.llama;
        const QJsonObject& evalJson = c.eval;
        QCOMPARE(llamaJson.value("windows").toInteger(), evalJson.value("windows").toInteger());
        QCOMPARE(llamaJson.value("seqlen").toInteger(), evalJson.value("seqlen").toInteger());
        QCOMPARE(llamaJson.value("windows").toInteger(), kWindows.toLongLong());
        const QJsonArray a = llamaJson.value("window_nll").toArray();
        const QJsonArray b = evalJson.value("window_nll").toArray();
        QCOMPARE(a.size(), b.size());
        double worst = 0;
        qsizetype worstAt = 0;
        for (qsizetype i = 0; i < a.size(); ++i) {
            const double d = std::abs(a[i].toDouble() - b[i].toDouble()) / std::abs(b[i].toDouble());
            if (d > worst || i == 0) {
                worst = d;
                worstAt = i;
            }
        }
        const double llama = llamaJson.value("perplexity").toDouble();
        const double ours = evalJson.value("perplexity").toDouble();
        const double rel = std::abs(llama / ours - 1);
        const double windowLimit = c.kquant ? kMaxRelativeWindowNllDiffKQuant : kMaxRelativeWindowNllDiff;
        qInfo("perplexity: llama.cpp %.4f, affinequant eval %.4f (relative difference %.2e, limit %.0e); largest "
              "relative window NLL difference %.2e at window %lld (limit %.1e)",
              llama, ours, rel, kMaxRelativePerplexityDiff, worst, static_cast<long long>(worstAt), windowLimit);
        QVERIFY(std::isfinite(llama) && llama > 1);
        QVERIFY2(rel <= kMaxRelativePerplexityDiff, "llama.cpp's perplexity differs from affinequant eval's");
        QVERIFY2(worst <= windowLimit, "a window's NLL differs between llama.cpp and affinequant eval");
    }
};

int main(int argc, char** argv)
{
    return llamacpp::checkerMain<TestGgufLlamaCpp>(argc, argv, "GGUF exports");
}

#include "tst_gguf_llamacpp.moc"
