// Exports (hf, awq, gptq, compressed-tensors), verification and the pre-flight check, on the bundled demo model
// (every dimension a multiple of 128). The decoders below are written from ../shared/spec/export-formats.md, one plain
// loop per format, and call nothing of the exporter or of verify.cpp.
// LibTorch headers before Qt headers.
#include "checkpoint.h"
#include "model.h"
#include "safetensors.h"

#include "aq/calibrate.h"
#include "aq/error.h"
#include "aq/export.h"
#include "testruns.h"

#include <nlohmann/json.hpp>

#include <QProcess>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace aq::detail;
using nlohmann::json;

namespace {

const std::string kDemo = aqtest::sourcePath("resources/demo-model");
const std::string kHeldout = aqtest::sourcePath("resources/demo-text/heldout.txt");
const std::vector<std::string> kLinears = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                           "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};

json readJson(const fs::path& p)
{
    std::ifstream in(p);
    return json::parse(in);
}

/// The 32-bit words of a 2-D int32 tensor as unsigned bit patterns.
struct Words {
    std::vector<uint32_t> v;
    int64_t cols = 0;
    explicit Words(const torch::Tensor& t) : cols(t.size(1))
    {
        const auto c = t.contiguous();
        const int32_t* p = c.data_ptr<int32_t>();
        for (int64_t i = 0; i < c.numel(); ++i)
            v.push_back(static_cast<uint32_t>(p[i]));
    }
    uint32_t at(int64_t r, int64_t c) const { return v[static_cast<size_t>(r * cols + c)]; }
};

/// A 2-D float tensor (float16 here) as float32 values.
struct Floats {
    std::vector<float> v;
    int64_t cols = 0;
    explicit Floats(const torch::Tensor& t) : cols(t.size(1))
    {
        const auto c = t.to(torch::kFloat32).contiguous();
        v.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    }
    float at(int64_t r, int64_t c) const { return v[static_cast<size_t>(r * cols + c)]; }
};

/// A decoded linear: integer codes, zero points and scales in the run's orientation ([out, in], [out, groups]).
struct Decoded {
    std::vector<int> codes;    // out * in
    std::vector<int> zeros;    // out * groups
    std::vector<float> scales; // out * groups
    int64_t out = 0, in = 0, groups = 0;
    int code(int64_t n, int64_t k) const { return codes[static_cast<size_t>(n * in + k)]; }
    int zero(int64_t n, int64_t g) const { return zeros[static_cast<size_t>(n * groups + g)]; }
    float scale(int64_t n, int64_t g) const { return scales[static_cast<size_t>(n * groups + g)]; }
};

Decoded sized(int64_t out, int64_t in, int64_t groups)
{
    Decoded d;
    d.out = out;
    d.in = in;
    d.groups = groups;
    d.codes.resize(static_cast<size_t>(out * in));
    d.zeros.resize(static_cast<size_t>(out * groups));
    d.scales.resize(static_cast<size_t>(out * groups));
    return d;
}

/// AWQ GEMM: qweight [K, N/8]: output column n sits in word n/8 at nibble {0,4,1,5,2,6,3,7}[n%8] (the pack order
/// 0,2,4,6,1,3,5,7 inverted); qzeros [K/g, N/8] the same, no offset; scales [K/g, N].
Decoded decodeAwq(const Checkpoint& ex, const std::string& layer, int64_t g)
{
    const Words qw(ex.load(layer + ".qweight")), qz(ex.load(layer + ".qzeros"));
    const Floats sc(ex.load(layer + ".scales"));
    const int64_t K = static_cast<int64_t>(qw.v.size()) / qw.cols, N = qw.cols * 8, G = K / g;
    const int nibbleOf[8] = {0, 4, 1, 5, 2, 6, 3, 7};
    Decoded d = sized(N, K, G);
    for (int64_t k = 0; k < K; ++k)
        for (int64_t n = 0; n < N; ++n)
            d.codes[static_cast<size_t>(n * K + k)] = static_cast<int>((qw.at(k, n / 8) >> (4 * nibbleOf[n % 8])) & 15);
    for (int64_t gi = 0; gi < G; ++gi)
        for (int64_t n = 0; n < N; ++n) {
            d.zeros[static_cast<size_t>(n * G + gi)] = static_cast<int>((qz.at(gi, n / 8) >> (4 * nibbleOf[n % 8])) & 15);
            d.scales[static_cast<size_t>(n * G + gi)] = sc.at(gi, n);
        }
    return d;
}

/// GPTQ: qweight [K*b/32, N]: row k in word k/(32/b) at bit b*(k%(32/b)); qzeros [G, N*b/32]: column n in word n/(32/b)
/// at bit b*(n%(32/b)), v1 stores zero - 1; scales [G, N]; g_idx [K].
Decoded decodeGptq(const Checkpoint& ex, const std::string& layer, int bits, bool v1)
{
    const Words qw(ex.load(layer + ".qweight")), qz(ex.load(layer + ".qzeros"));
    const Floats sc(ex.load(layer + ".scales"));
    const int64_t per = 32 / bits, K = static_cast<int64_t>(qw.v.size()) / qw.cols * per, N = qw.cols,
                  G = static_cast<int64_t>(sc.v.size()) / sc.cols;
    const uint32_t mask = (1u << bits) - 1;
    Decoded d = sized(N, K, G);
    for (int64_t k = 0; k < K; ++k)
        for (int64_t n = 0; n < N; ++n)
            d.codes[static_cast<size_t>(n * K + k)] = static_cast<int>((qw.at(k / per, n) >> (bits * (k % per))) & mask);
    for (int64_t g = 0; g < G; ++g)
        for (int64_t n = 0; n < N; ++n) {
            const int stored = static_cast<int>((qz.at(g, n / per) >> (bits * (n % per))) & mask);
            d.zeros[static_cast<size_t>(n * G + g)] = v1 ? stored + 1 : stored;
            d.scales[static_cast<size_t>(n * G + g)] = sc.at(g, n);
        }
    return d;
}

/// compressed-tensors pack-quantized: weight_packed [N, ceil(K/(32/b))], element k at bit b*(k%(32/b)) of word
/// k/(32/b), value = signed code + 2^(b-1); weight_zero_point [ceil(N/(32/b)), G] packed along the output dimension,
/// same offset; weight_scale [N, G]. Returned codes/zeros are shifted back by +2^(b-1) to this program's convention.
Decoded decodeCompressed(const Checkpoint& ex, const std::string& layer, int bits, bool symmetric)
{
    const Words wp(ex.load(layer + ".weight_packed"));
    const Floats sc(ex.load(layer + ".weight_scale"));
    const auto shape = ex.load(layer + ".weight_shape");
    const int64_t per = 32 / bits, N = shape[0].item<int64_t>(), K = shape[1].item<int64_t>(), G = sc.cols;
    const int offset = 1 << (bits - 1);
    const uint32_t mask = (1u << bits) - 1;
    Decoded d = sized(N, K, G);
    for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k) {
            const int signedCode = static_cast<int>((wp.at(n, k / per) >> (bits * (k % per))) & mask) - offset;
            d.codes[static_cast<size_t>(n * K + k)] = signedCode + offset;
        }
    const Words zp(symmetric ? torch::zeros({1, 1}, torch::kInt32) : ex.load(layer + ".weight_zero_point"));
    for (int64_t n = 0; n < N; ++n)
        for (int64_t g = 0; g < G; ++g) {
            const int signedZero = symmetric ? 0 : static_cast<int>((zp.at(n / per, g) >> (bits * (n % per))) & mask) - offset;
            d.zeros[static_cast<size_t>(n * G + g)] = signedZero + offset;
            d.scales[static_cast<size_t>(n * G + g)] = sc.at(n, g);
        }
    return d;
}

/// Compares a decoded layer with the run: codes and zero points exactly (against round(W/s + z) from the run's scales),
/// scales equal to the run's scales rounded to float16, and the dequantized weight within float16 rounding of the
/// run's weight: |(q - z) * fp16(s) - (q - z) * s| <= |q - z| * |fp16(s) - s|.
void compareWithRun(const Decoded& d, const Checkpoint& run, const SafetensorsFile& quant, const std::string& layer,
                    int64_t g, double* maxDiff)
{
    const auto w = run.load(layer + ".weight").to(torch::kFloat64);
    const auto s = quant.load(layer + ".scales").to(torch::kFloat64);
    const auto z = quant.load(layer + ".zeros").to(torch::kFloat64);
    QCOMPARE(d.out, w.size(0));
    QCOMPARE(d.in, w.size(1));
    const int64_t runGroups = s.size(1);
    const auto s16 = s.to(torch::kFloat32).to(torch::kFloat16).to(torch::kFloat64);
    auto wa = w.accessor<double, 2>();
    auto sa = s.accessor<double, 2>();
    auto s16a = s16.accessor<double, 2>();
    auto za = z.accessor<double, 2>();
    for (int64_t n = 0; n < d.out; ++n)
        for (int64_t k = 0; k < d.in; ++k) {
            const int64_t rg = runGroups == 1 ? 0 : k / g;    // the run's group
            const int64_t dg = k / (d.in / d.groups);          // the export's group
            const double scale = sa[n][rg], zero = za[n][rg];
            const int expectCode = static_cast<int>(std::nearbyint(wa[n][k] / scale + zero));
            if (d.code(n, k) != expectCode || d.zero(n, dg) != static_cast<int>(zero))
                QFAIL(qPrintable(QString("%1: row %2 col %3: code %4/zero %5, run %6/%7")
                                     .arg(QString::fromStdString(layer))
                                     .arg(n)
                                     .arg(k)
                                     .arg(d.code(n, k))
                                     .arg(d.zero(n, dg))
                                     .arg(expectCode)
                                     .arg(zero)));
            const double stored = d.scale(n, dg);
            if (stored != s16a[n][rg])
                QFAIL(qPrintable(QString("%1: scale %2 is not the run's %3 in float16").arg(QString::fromStdString(layer)).arg(stored).arg(scale)));
            const double decoded = (d.code(n, k) - d.zero(n, dg)) * stored;
            const double diff = std::abs(decoded - wa[n][k]);
            // The run's own float32 arithmetic (straight-through rounding) leaves its codes up to ~2e-6 off whole numbers.
            const double bound =
                std::abs(d.code(n, k) - d.zero(n, dg)) * std::abs(stored - scale) + 4e-6 * scale + 1e-7 * std::abs(wa[n][k]);
            if (diff > bound)
                QFAIL(qPrintable(QString("%1: weight differs by %2 > %3").arg(QString::fromStdString(layer)).arg(diff).arg(bound)));
            *maxDiff = std::max(*maxDiff, diff / std::max(1e-12, std::abs(wa[n][k])));
        }
}

using aqtest::makeRun;
using aqtest::quickConfig;

/// Runs `f`, expecting aq::Error with `code`; returns its message.
template <typename F>
std::string expectError(F f, aq::ErrorCode code)
{
    try {
        f();
    } catch (const aq::Error& e) {
        if (e.code() != code)
            return std::string("WRONG CODE: ") + e.what();
        return e.what();
    }
    return "NO ERROR";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

torch::Tensor logitsOf(const std::string& modelDir, const torch::Tensor& ids)
{
    Checkpoint ck(modelDir);
    CausalLM m(ck, torch::kCPU, torch::kFloat32);
    torch::NoGradGuard ng;
    return m.logits(ids);
}

/// Token ids of the held-out text for a few windows (the demo tokenizer through the public API is not needed: any
/// in-vocabulary ids exercise the weights, and seeded ids keep this test independent of the tokenizer).
torch::Tensor sampleIds(int64_t windows, int64_t seqlen)
{
    torch::manual_seed(11);
    return torch::randint(3, 2048, {windows, seqlen}, torch::kInt64);
}

/// Entries of a folder, hidden ones included.
std::vector<std::string> entries(const fs::path& dir)
{
    std::vector<std::string> r;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
        r.push_back(e.path().filename().string());
    return r;
}

}  // namespace

class TestExport : public QObject {
    Q_OBJECT

    fs::path m_tmp;
    std::string m_fold;    // affinequant w4a16g128, zero in range, vector LN transforms: fully foldable
    std::string m_sym;     // rtn w4a16g128 symmetric
    std::string m_w4a4;    // rtn w4a4
    std::string m_lnm;     // affinequant w4a16g128 with post-norm matrices
    std::string m_skewed;  // demo model with one all-positive group (for zero points out of range)

    std::string exportTo(const std::string& run, aq::ExportFormat f, const std::string& name, bool ext = false)
    {
        aq::ExportOptions o;
        o.runDir = run;
        o.format = f;
        o.outDir = (m_tmp / name).string();
        o.force = true;
        o.allowExtension = ext;
        aq::exportRun(o);
        return o.outDir;
    }

private slots:
    void initTestCase()
    {
        m_tmp = fs::temp_directory_path() / ("aq-tst-export-" + std::to_string(::getpid()));
        fs::remove_all(m_tmp);
        fs::create_directories(m_tmp);
        aq::QuantConfig fold = quickConfig("w4a16g128", aq::Method::AffineQuant);
        fold.zeroInRange = true;
        fold.lnMatrix = false;
        m_fold = (m_tmp / "run-fold").string();
        makeRun(kDemo, m_fold, fold);
        aq::QuantConfig sym = quickConfig("w4a16g128", aq::Method::Rtn);
        sym.symmetric = true;
        m_sym = (m_tmp / "run-sym").string();
        makeRun(kDemo, m_sym, sym);
        m_w4a4 = (m_tmp / "run-w4a4").string();
        makeRun(kDemo, m_w4a4, quickConfig("w4a4", aq::Method::Rtn));
        aq::QuantConfig lnm = quickConfig("w4a16g128", aq::Method::AffineQuant);
        QVERIFY(!lnm.lnMatrix);  // the presets are deployable by default; the paper's recipe is one switch away
        lnm.lnMatrix = true;
        m_lnm = (m_tmp / "run-lnm").string();
        makeRun(kDemo, m_lnm, lnm);

        // The demo model with row 0, group 0 of block 1's up_proj made all positive: without --zero-in-range its zero
        // point is negative.
        m_skewed = (m_tmp / "skewed-model").string();
        fs::create_directories(m_skewed);
        SafetensorsFile f(kDemo + "/model.safetensors");
        std::vector<std::pair<std::string, torch::Tensor>> tensors;
        for (const auto& [name, e] : f.entries()) {
            torch::Tensor t = f.load(name);
            if (name == "model.layers.1.mlp.up_proj.weight") {
                auto g = t.narrow(0, 0, 1).narrow(1, 0, 128);
                g.copy_(g.abs() + 0.05);
            }
            tensors.emplace_back(name, t);
        }
        writeSafetensors(m_skewed + "/model.safetensors", tensors);
        for (const auto& e : fs::directory_iterator(kDemo))
            if (e.path().filename() != "model.safetensors")
                fs::copy_file(e.path(), fs::path(m_skewed) / e.path().filename());
    }

    void cleanupTestCase() { fs::remove_all(m_tmp); }

    void awqDecodesToRunWeights()
    {
        const std::string dir = exportTo(m_fold, aq::ExportFormat::Awq, "awq");
        const json cfg = readJson(fs::path(dir) / "config.json");
        const json expected = {{"quant_method", "awq"}, {"bits", 4},          {"group_size", 128},
                               {"zero_point", true},    {"version", "gemm"}, {"modules_to_not_convert", nullptr}};
        QCOMPARE(QString::fromStdString(cfg["quantization_config"].dump()), QString::fromStdString(expected.dump()));
        QVERIFY(!cfg.contains("affinequant"));
        Checkpoint ex(dir), run(m_fold + "/model");
        SafetensorsFile quant(m_fold + "/model/quantization.safetensors");
        double maxRel = 0;
        for (int b = 0; b < 4; ++b)
            for (const auto& l : kLinears) {
                const std::string layer = "model.layers." + std::to_string(b) + "." + l;
                const auto shape = run.shape(layer + ".weight");
                const int64_t N = shape[0], K = shape[1];
                QVERIFY(!ex.contains(layer + ".weight"));
                QVERIFY(!ex.contains(layer + ".g_idx"));
                QCOMPARE(ex.dtypeName(layer + ".qweight"), std::string("I32"));
                QCOMPARE(ex.shape(layer + ".qweight"), (std::vector<int64_t>{K, N / 8}));
                QCOMPARE(ex.dtypeName(layer + ".qzeros"), std::string("I32"));
                QCOMPARE(ex.shape(layer + ".qzeros"), (std::vector<int64_t>{K / 128, N / 8}));
                QCOMPARE(ex.dtypeName(layer + ".scales"), std::string("F16"));
                QCOMPARE(ex.shape(layer + ".scales"), (std::vector<int64_t>{K / 128, N}));
                compareWithRun(decodeAwq(ex, layer, 128), run, quant, layer, 128, &maxRel);
                if (QTest::currentTestFailed())
                    return;
            }
        qInfo("AWQ: 28 layers decoded, codes and zero points exact, max relative weight difference %.3g (fp16 scales)",
              maxRel);
        QVERIFY(maxRel < std::ldexp(1.0, -11) * 1.001);
        // One shard per block plus one for the rest, and an index that names every tensor.
        const json index = readJson(fs::path(dir) / "model.safetensors.index.json");
        QCOMPARE(ex.format(), std::string("safetensors (sharded, 5 files)"));
        QCOMPARE(index["weight_map"].size(), ex.names().size());
        QCOMPARE(index["weight_map"]["model.layers.2.mlp.up_proj.qweight"].get<std::string>(),
                 std::string("model-00003-of-00005.safetensors"));
        QVERIFY(fs::exists(fs::path(dir) / "tokenizer.model"));
    }

    void gptqDecodesToRunWeights_data()
    {
        QTest::addColumn<bool>("symmetric");
        QTest::newRow("asymmetric, gptq_v2") << false;
        QTest::newRow("symmetric, v1") << true;
    }
    void gptqDecodesToRunWeights()
    {
        QFETCH(bool, symmetric);
        const std::string runDir = symmetric ? m_sym : m_fold;
        const std::string dir = exportTo(runDir, aq::ExportFormat::Gptq, symmetric ? "gptq-sym" : "gptq");
        const json qc = readJson(fs::path(dir) / "config.json")["quantization_config"];
        QCOMPARE(qc["quant_method"].get<std::string>(), std::string("gptq"));
        QCOMPARE(qc["bits"].get<int>(), 4);
        QCOMPARE(qc["group_size"].get<int>(), 128);
        QCOMPARE(qc["desc_act"].get<bool>(), false);
        QCOMPARE(qc["sym"].get<bool>(), symmetric);
        QCOMPARE(qc["checkpoint_format"].get<std::string>(), std::string(symmetric ? "gptq" : "gptq_v2"));
        QCOMPARE(readJson(fs::path(dir) / "quantize_config.json").dump(), qc.dump());
        Checkpoint ex(dir), run(runDir + "/model");
        SafetensorsFile quant(runDir + "/model/quantization.safetensors");
        double maxRel = 0;
        for (int b = 0; b < 4; ++b)
            for (const auto& l : kLinears) {
                const std::string layer = "model.layers." + std::to_string(b) + "." + l;
                const auto shape = run.shape(layer + ".weight");
                const int64_t N = shape[0], K = shape[1];
                QCOMPARE(ex.dtypeName(layer + ".qweight"), std::string("I32"));
                QCOMPARE(ex.shape(layer + ".qweight"), (std::vector<int64_t>{K * 4 / 32, N}));
                QCOMPARE(ex.shape(layer + ".qzeros"), (std::vector<int64_t>{K / 128, N * 4 / 32}));
                QCOMPARE(ex.dtypeName(layer + ".scales"), std::string("F16"));
                QCOMPARE(ex.shape(layer + ".scales"), (std::vector<int64_t>{K / 128, N}));
                QCOMPARE(ex.dtypeName(layer + ".g_idx"), std::string("I32"));
                const auto gIdx = ex.load(layer + ".g_idx");
                for (int64_t k = 0; k < K; k += 37)
                    QCOMPARE(gIdx[k].item<int>(), static_cast<int>(k / 128));
                if (symmetric)  // zero point 8 stored as 7 in every nibble
                    QCOMPARE(static_cast<uint32_t>(ex.load(layer + ".qzeros")[0][0].item<int32_t>()), 0x77777777u);
                compareWithRun(decodeGptq(ex, layer, 4, symmetric), run, quant, layer, 128, &maxRel);
                if (QTest::currentTestFailed())
                    return;
            }
        QVERIFY(maxRel < std::ldexp(1.0, -11) * 1.001);
    }

    void compressedTensorsDecodesToRunWeights_data()
    {
        QTest::addColumn<bool>("symmetric");
        QTest::newRow("asymmetric") << false;
        QTest::newRow("symmetric") << true;
    }
    void compressedTensorsDecodesToRunWeights()
    {
        QFETCH(bool, symmetric);
        const std::string runDir = symmetric ? m_sym : m_fold;
        const std::string dir = exportTo(runDir, aq::ExportFormat::CompressedTensors, symmetric ? "ct-sym" : "ct");
        const json qc = readJson(fs::path(dir) / "config.json")["quantization_config"];
        QCOMPARE(qc["quant_method"].get<std::string>(), std::string("compressed-tensors"));
        QCOMPARE(qc["format"].get<std::string>(), std::string("pack-quantized"));
        QCOMPARE(qc["quantization_status"].get<std::string>(), std::string("compressed"));
        QCOMPARE(qc["ignore"], json({"lm_head"}));
        QVERIFY(qc["kv_cache_scheme"].is_null());
        const json& g0 = qc["config_groups"]["group_0"];
        QCOMPARE(g0["targets"], json({"Linear"}));
        QVERIFY(g0["input_activations"].is_null());
        QVERIFY(g0["output_activations"].is_null());
        const json& w = g0["weights"];
        QCOMPARE(w["num_bits"].get<int>(), 4);
        QCOMPARE(w["type"].get<std::string>(), std::string("int"));
        QCOMPARE(w["symmetric"].get<bool>(), symmetric);
        QCOMPARE(w["strategy"].get<std::string>(), std::string("group"));
        QCOMPARE(w["group_size"].get<int>(), 128);
        QCOMPARE(w["dynamic"].get<bool>(), false);
        QVERIFY(w["actorder"].is_null());
        Checkpoint ex(dir), run(runDir + "/model");
        SafetensorsFile quant(runDir + "/model/quantization.safetensors");
        double maxRel = 0;
        for (int b = 0; b < 4; ++b)
            for (const auto& l : kLinears) {
                const std::string layer = "model.layers." + std::to_string(b) + "." + l;
                const auto shape = run.shape(layer + ".weight");
                const int64_t N = shape[0], K = shape[1];
                QCOMPARE(ex.dtypeName(layer + ".weight_packed"), std::string("I32"));
                QCOMPARE(ex.shape(layer + ".weight_packed"), (std::vector<int64_t>{N, K / 8}));
                QCOMPARE(ex.dtypeName(layer + ".weight_scale"), std::string("F16"));
                QCOMPARE(ex.shape(layer + ".weight_scale"), (std::vector<int64_t>{N, K / 128}));
                QCOMPARE(ex.dtypeName(layer + ".weight_shape"), std::string("I64"));
                QCOMPARE(ex.contains(layer + ".weight_zero_point"), !symmetric);
                if (!symmetric) {
                    QCOMPARE(ex.dtypeName(layer + ".weight_zero_point"), std::string("I32"));
                    QCOMPARE(ex.shape(layer + ".weight_zero_point"), (std::vector<int64_t>{N / 8, K / 128}));
                }
                compareWithRun(decodeCompressed(ex, layer, 4, symmetric), run, quant, layer, 128, &maxRel);
                if (QTest::currentTestFailed())
                    return;
            }
        QVERIFY(maxRel < std::ldexp(1.0, -11) * 1.001);
    }

    void hfExportReloadsWithMatchingLogits()
    {
        const std::string dir = exportTo(m_fold, aq::ExportFormat::HuggingFace, "hf");
        const json cfg = readJson(fs::path(dir) / "config.json");
        QVERIFY(!cfg.contains("affinequant"));
        QVERIFY(!cfg.contains("quantization_config"));
        QCOMPARE(cfg["architectures"], json({"LlamaForCausalLM"}));
        QCOMPARE(cfg["attention_bias"].get<bool>(), true);  // the learned shifts
        QCOMPARE(cfg["mlp_bias"].get<bool>(), true);
        QCOMPARE(cfg["torch_dtype"].get<std::string>(), std::string("float16"));
        Checkpoint ex(dir);
        ex.validate();  // every bias the flags imply (zero o_proj/down_proj biases included)
        for (const auto& name : ex.names()) {
            QVERIFY2(name.find("layernorm.bias") == std::string::npos, name.c_str());  // folded
            QCOMPARE(ex.dtypeName(name), std::string("F16"));
        }
        const auto ids = sampleIds(2, 128);
        const auto ref = logitsOf(m_fold + "/model", ids);
        const auto got = logitsOf(dir, ids);
        // Reference for "float16 rounding": the run's own model with every tensor rounded to float16 (no folding).
        Checkpoint runCk(m_fold + "/model");
        CausalLM rounded(runCk, torch::kCPU, torch::kFloat32);
        for (int64_t i = 0; i < rounded.numBlocks(); ++i)
            for (auto& [n, t] : rounded.block(i).tensors)
                t = t.to(torch::kFloat16).to(torch::kFloat32);
        torch::Tensor roundedLogits;
        {
            torch::NoGradGuard ng;
            roundedLogits = rounded.logits(ids);
        }
        const double diff = (got - ref).abs().max().item<double>();
        const double fp16Diff = (roundedLogits - ref).abs().max().item<double>();
        const double agree = got.argmax(-1).eq(ref.argmax(-1)).to(torch::kFloat64).mean().item<double>();
        qInfo("hf export: max |logit diff| %.4g (float16 rounding of the run's own tensors: %.4g), max |logit| %.3g, "
              "top-1 agreement %.4f",
              diff, fp16Diff, ref.abs().max().item<double>(), agree);
        QVERIFY(diff <= 3 * fp16Diff + 1e-3);
        QVERIFY(agree >= 0.99);
    }

    void postMatricesNeedTheExtension()
    {
        aq::ExportOptions o;
        o.runDir = m_lnm;
        o.outDir = (m_tmp / "hf-lnm").string();
        const std::string msg = expectError([&] { aq::exportRun(o); }, aq::ErrorCode::BadInput);
        QVERIFY2(contains(msg, "--allow-extension") && contains(msg, "--no-ln-matrix"), msg.c_str());
        QVERIFY(!fs::exists(o.outDir));
        o.format = aq::ExportFormat::Awq;
        const std::string packedMsg = expectError([&] { aq::exportRun(o); }, aq::ErrorCode::BadInput);
        QVERIFY2(contains(packedMsg, "matrices after both norms") && contains(packedMsg, "--no-ln-matrix"), packedMsg.c_str());

        const std::string dir = exportTo(m_lnm, aq::ExportFormat::HuggingFace, "hf-ext", true);
        QVERIFY(fs::exists(fs::path(dir) / "POST_MATRIX_EXTENSION.md"));
        Checkpoint ex(dir);
        QVERIFY(ex.contains("model.layers.0.input_layernorm.post_matrix"));
        QVERIFY(ex.contains("model.layers.3.post_attention_layernorm.post_matrix"));
        QVERIFY(!ex.contains("model.layers.0.input_layernorm.bias"));  // folded through the matrix
        // This program applies the matrices, so the extension export computes the run's model.
        const auto ids = sampleIds(1, 128);
        const auto ref = logitsOf(m_lnm + "/model", ids);
        const auto got = logitsOf(dir, ids);
        QVERIFY(got.argmax(-1).eq(ref.argmax(-1)).to(torch::kFloat64).mean().item<double>() >= 0.99);
        QVERIFY((got - ref).abs().max().item<double>() < 0.05);
    }

    void verifyPassesForEveryFormat_data()
    {
        QTest::addColumn<int>("format");
        QTest::newRow("hf") << static_cast<int>(aq::ExportFormat::HuggingFace);
        QTest::newRow("awq") << static_cast<int>(aq::ExportFormat::Awq);
        QTest::newRow("gptq") << static_cast<int>(aq::ExportFormat::Gptq);
        QTest::newRow("compressed-tensors") << static_cast<int>(aq::ExportFormat::CompressedTensors);
    }
    void verifyPassesForEveryFormat()
    {
        QFETCH(int, format);
        const auto f = static_cast<aq::ExportFormat>(format);
        aq::VerifyOptions v;
        v.exportDir = exportTo(m_fold, f, std::string("verify-") + aq::exportFormatName(f));
        v.runDir = m_fold;
        v.textPath = kHeldout;
        v.seqlen = 256;
        v.maxWindows = 4;
        const aq::VerifyResult r = aq::verifyExport(v);
        for (const auto& p : r.problems)
            qWarning("%s", p.c_str());
        QVERIFY(r.ok);
        QCOMPARE(r.tensors.size(), size_t(28 + 10));  // 28 linears; 8 norms, embeddings, final norm
        QVERIFY(r.maxWeightDiff > 0 && r.maxWeightDiff < 2e-3);
        QVERIFY(r.top1Agreement >= 0.99);
        QVERIFY(r.meanKl < 1e-4);
        QVERIFY(std::abs(r.exportPerplexity / r.runPerplexity - 1) < 1e-3);
        qInfo("%s: max weight diff %.3g, max logit diff %.3g, KL %.3g, top-1 %.4f, ppl run %.4f export %.4f",
              aq::exportFormatName(f), r.maxWeightDiff, r.maxLogitDiff, r.meanKl, r.top1Agreement, r.runPerplexity,
              r.exportPerplexity);
    }

    void verifyReportsBrokenExports()
    {
        // A flipped code: the weight of that layer no longer matches.
        const fs::path dir = exportTo(m_fold, aq::ExportFormat::Awq, "awq-broken");
        {
            const std::string shard = (dir / "model-00002-of-00005.safetensors").string();
            std::vector<std::pair<std::string, torch::Tensor>> tensors;
            {
                SafetensorsFile f(shard);
                for (const auto& [name, e] : f.entries())
                    tensors.emplace_back(name, f.load(name));
            }
            for (auto& [name, t] : tensors)
                if (name == "model.layers.1.mlp.down_proj.qweight")
                    t[5][3].fill_(t[5][3].item<int32_t>() ^ 0x00F00000);
            writeSafetensors(shard, tensors);
        }
        aq::VerifyOptions v;
        v.exportDir = dir.string();
        v.runDir = m_fold;
        v.maxWindows = 1;
        aq::VerifyResult r = aq::verifyExport(v);
        QVERIFY(!r.ok);
        QVERIFY(!r.problems.empty());
        QVERIFY2(contains(r.problems[0], "model.layers.1.mlp.down_proj.weight"), r.problems[0].c_str());

        // A GPTQ v2 export read as v1: every zero point is off by one, which verification must notice.
        const fs::path g = exportTo(m_fold, aq::ExportFormat::Gptq, "gptq-as-v1");
        json cfg = readJson(g / "config.json");
        cfg["quantization_config"]["checkpoint_format"] = "gptq";
        std::ofstream(g / "config.json") << cfg.dump(2);
        v.exportDir = g.string();
        r = aq::verifyExport(v);
        QVERIFY(!r.ok);
        QCOMPARE(static_cast<int>(std::count_if(r.tensors.begin(), r.tensors.end(),
                                                [](const aq::TensorDifference& t) { return !t.ok; })),
                 28);
    }

    void refusesUnfinishedRuns()
    {
        const fs::path run = m_tmp / "unfinished";
        fs::create_directories(run / "blocks");
        std::ofstream(run / "progress.json") << R"({"completed_blocks": 2})";
        aq::ExportOptions o;
        o.runDir = run.string();
        o.outDir = (m_tmp / "never").string();
        std::string msg = expectError([&] { aq::exportRun(o); }, aq::ErrorCode::BadInput);
        QVERIFY2(contains(msg, "unfinished") && contains(msg, "--resume"), msg.c_str());
        // run.json present but not complete.
        fs::create_directories(run / "model");
        fs::copy_file(fs::path(m_fold) / "model" / "config.json", run / "model" / "config.json");
        std::ofstream(run / "run.json") << R"({"status": "running", "configuration": {}})";
        msg = expectError([&] { aq::exportRun(o); }, aq::ErrorCode::BadInput);
        QVERIFY2(contains(msg, "unfinished"), msg.c_str());
        QVERIFY(!fs::exists(o.outDir));
    }

    void wrongJsonTypesAreBadInput_data()
    {
        QTest::addColumn<QString>("runJson");
        QTest::addColumn<QString>("needle");
        QTest::newRow("status a number") << R"({"status": 3, "configuration": {}})"
                                         << "'status' must be a string, not a number (3)";
        QTest::newRow("status an object") << R"({"status": {"a": 1}, "configuration": {}})"
                                          << "'status' must be a string, not an object";
        QTest::newRow("top level an array") << R"([1, 2])" << "the top level must be a JSON object, not an array";
        QTest::newRow("top level a string") << R"("complete")"
                                            << "the top level must be a JSON object, not a string (\"complete\")";
        QTest::newRow("configuration a number") << R"({"status": "complete", "configuration": 5})"
                                                << "'configuration' must be a JSON object, not a number (5)";
        QTest::newRow("wbits a string") << R"({"status": "complete", "configuration": {"wbits": "4"}})"
                                        << "'configuration.wbits' must be a whole number in range, not a string";
        QTest::newRow("wbits too wide") << R"({"status": "complete", "configuration": {"wbits": 4294967300}})"
                                        << "'configuration.wbits' must be a whole number in range";
        QTest::newRow("model an object") << R"({"status": "complete", "model": {}, "configuration": {}})"
                                         << "'model' must be a string, not an object";
    }
    void wrongJsonTypesAreBadInput()
    {
        // run.json with wrong types used to end in "internal error" and the JSON library's text; export and verify
        // must both name the file and the key.
        QFETCH(QString, runJson);
        QFETCH(QString, needle);
        const fs::path run = m_tmp / "types-run";
        fs::remove_all(run);
        fs::copy(m_fold, run, fs::copy_options::recursive);
        std::ofstream(run / "run.json", std::ios::trunc) << runJson.toStdString();
        aq::ExportOptions o;
        o.runDir = run.string();
        o.outDir = (m_tmp / "types-never").string();
        std::string msg = expectError([&] { aq::exportRun(o); }, aq::ErrorCode::BadInput);
        QVERIFY2(contains(msg, (run / "run.json").string()) && contains(msg, needle.toStdString()), msg.c_str());
        QVERIFY(!fs::exists(o.outDir));

        if (!fs::exists(m_tmp / "types-export"))
            exportTo(m_fold, aq::ExportFormat::HuggingFace, "types-export");
        aq::VerifyOptions v;
        v.exportDir = (m_tmp / "types-export").string();
        v.runDir = run.string();
        v.maxWindows = 1;
        msg = expectError([&] { aq::verifyExport(v); }, aq::ErrorCode::BadInput);
        QVERIFY2(contains(msg, (run / "run.json").string()) && contains(msg, needle.toStdString()), msg.c_str());
    }

    void wrongJsonTypesInExportConfig()
    {
        const fs::path g = exportTo(m_fold, aq::ExportFormat::Gptq, "gptq-types");
        json cfg = readJson(g / "config.json");
        cfg["quantization_config"]["bits"] = "4";
        std::ofstream(g / "config.json", std::ios::trunc) << cfg.dump(2);
        aq::VerifyOptions v;
        v.exportDir = g.string();
        v.runDir = m_fold;
        v.maxWindows = 1;
        std::string msg = expectError([&] { aq::verifyExport(v); }, aq::ErrorCode::BadInput);
        QVERIFY2(contains(msg, (g / "config.json").string()) &&
                     contains(msg, "'quantization_config.bits' must be a whole number in range, not a string"),
                 msg.c_str());
        cfg["quantization_config"] = true;
        std::ofstream(g / "config.json", std::ios::trunc) << cfg.dump(2);
        msg = expectError([&] { aq::verifyExport(v); }, aq::ErrorCode::BadInput);
        QVERIFY2(contains(msg, "'quantization_config' must be a JSON object, not a boolean (true)"), msg.c_str());
    }

    void refusesActivationQuantizationInPackedFormats()
    {
        for (auto f : {aq::ExportFormat::Awq, aq::ExportFormat::Gptq, aq::ExportFormat::CompressedTensors}) {
            aq::ExportOptions o;
            o.runDir = m_w4a4;
            o.format = f;
            o.outDir = (m_tmp / "w4a4-packed").string();
            const std::string msg = expectError([&] { aq::exportRun(o); }, aq::ErrorCode::BadInput);
            QVERIFY2(contains(msg, "quantizes activations (W4A4)") && contains(msg, "--format hf"), msg.c_str());
            QVERIFY(!fs::exists(o.outDir));
        }
        // hf is allowed, and says that it holds the weights only.
        aq::ExportOptions o;
        o.runDir = m_w4a4;
        o.outDir = (m_tmp / "w4a4-hf").string();
        const aq::ExportResult r = aq::exportRun(o);
        bool noted = false;
        for (const auto& n : r.notes)
            noted = noted || contains(n, "W4A4");
        QVERIFY(noted);
        QVERIFY(!readJson(fs::path(o.outDir) / "config.json").contains("affinequant"));
        QCOMPARE(readJson(fs::path(o.outDir) / "affinequant.json")["affinequant"]["abits"].get<int>(), 4);
    }

    void existingDestinationNeedsForce()
    {
        const fs::path out = m_tmp / "exists";
        fs::create_directories(out);
        std::ofstream(out / "keep.txt") << "mine";
        aq::ExportOptions o;
        o.runDir = m_fold;
        o.outDir = out.string();
        const std::string msg = expectError([&] { aq::exportRun(o); }, aq::ErrorCode::BadInput);
        QVERIFY2(contains(msg, "already exists") && contains(msg, "--force"), msg.c_str());
        QVERIFY(fs::exists(out / "keep.txt"));
        o.force = true;
        aq::exportRun(o);
        QVERIFY(!fs::exists(out / "keep.txt"));
        QVERIFY(fs::exists(out / "config.json"));
        for (const auto& e : entries(m_tmp))
            QVERIFY2(e.find(".partial-") == std::string::npos && e.find(".old-") == std::string::npos, e.c_str());
    }

    void unwritableDestinations()
    {
        aq::ExportOptions o;
        o.runDir = m_fold;
        // A file where a folder is expected.
        std::ofstream(m_tmp / "plain-file") << "x";
        o.outDir = (m_tmp / "plain-file" / "out").string();
        std::string msg = expectError([&] { aq::exportRun(o); }, aq::ErrorCode::BadInput);
        QVERIFY2(contains(msg, "Not a directory") && contains(msg, "nothing was written"), msg.c_str());

        // A read-only location. Tests run as root, which ignores permission bits, so as root a read-only tmpfs is
        // mounted (or, where mounting is not allowed, /sys, which is read-only in containers).
        const fs::path ro = m_tmp / "readonly";
        fs::create_directories(ro);
        bool mounted = false;
        if (::geteuid() == 0) {
            mounted = std::system(("mount -t tmpfs -o ro,size=1m aqtest " + ro.string() + " 2>/dev/null").c_str()) == 0;
            o.outDir = mounted ? (ro / "out").string() : "/sys/aq-export-test/out";
        } else {
            ::chmod(ro.c_str(), 0555);
            o.outDir = (ro / "out").string();
        }
        msg = expectError([&] { aq::exportRun(o); }, aq::ErrorCode::BadInput);
        qInfo("read-only destination %s: %s", o.outDir.c_str(), msg.c_str());
        QVERIFY2(contains(msg, "nothing was written"), msg.c_str());
        QVERIFY(!fs::exists(o.outDir));
        if (mounted) {
            QVERIFY(entries(ro).empty());
            std::system(("umount " + ro.string()).c_str());
        }
        ::chmod(ro.c_str(), 0755);
    }

    void fullDisk()
    {
        // A 4 MiB tmpfs: the hf export (about 7 MB in five shards) fails part-way, after two shards were written.
        if (::geteuid() != 0)
            QSKIP("needs root to mount a small tmpfs");
        const fs::path small = m_tmp / "small";
        fs::create_directories(small);
        if (std::system(("mount -t tmpfs -o size=4m aqtest " + small.string() + " 2>/dev/null").c_str()) != 0)
            QSKIP("mounting a tmpfs is not allowed here");
        aq::ExportOptions o;
        o.runDir = m_fold;
        o.outDir = (small / "out").string();
        const std::string msg = expectError([&] { aq::exportRun(o); }, aq::ErrorCode::BadInput);
        qInfo("full destination: %s", msg.c_str());
        const auto left = entries(small);
        std::system(("umount " + small.string()).c_str());
        QVERIFY2(contains(msg, "disk full") && contains(msg, "nothing was left"), msg.c_str());
        QVERIFY(left.empty());
    }

    void cancelledExportLeavesNothing()
    {
        std::atomic<bool> cancel{true};
        aq::ExportOptions o;
        o.runDir = m_fold;
        o.outDir = (m_tmp / "cancelled").string();
        expectError([&] { aq::exportRun(o, {}, &cancel); }, aq::ErrorCode::Cancelled);
        QVERIFY(!fs::exists(o.outDir));
        for (const auto& e : entries(m_tmp))
            QVERIFY2(e.find(".partial-") == std::string::npos, e.c_str());
    }

    void zeroPointsOutOfRangeAreRefused()
    {
        // Without --zero-in-range the all-positive group gets a negative zero point.
        const std::string run = (m_tmp / "run-skewed").string();
        aq::QuantConfig free = quickConfig("w4a16g128", aq::Method::Rtn);
        free.zeroInRange = false;  // the presets force zero into range by default
        makeRun(m_skewed, run, free);
        for (auto f : {aq::ExportFormat::Awq, aq::ExportFormat::Gptq, aq::ExportFormat::CompressedTensors}) {
            aq::ExportOptions o;
            o.runDir = run;
            o.format = f;
            o.outDir = (m_tmp / "skewed-packed").string();
            const std::string msg = expectError([&] { aq::exportRun(o); }, aq::ErrorCode::BadInput);
            QVERIFY2(contains(msg, "model.layers.1.mlp.up_proj: zero point -") && contains(msg, "row 0, group 0") &&
                         contains(msg, "--zero-in-range"),
                     msg.c_str());
            QVERIFY(!fs::exists(o.outDir));
        }
        // With --zero-in-range that zero point is 0: fine for AWQ and GPTQ v2, refused by the v1 layout.
        aq::QuantConfig c = quickConfig("w4a16g128", aq::Method::Rtn);
        c.zeroInRange = true;
        const std::string inRange = (m_tmp / "run-skewed-zir").string();
        makeRun(m_skewed, inRange, c);
        exportTo(inRange, aq::ExportFormat::Awq, "skewed-awq");
        exportTo(inRange, aq::ExportFormat::Gptq, "skewed-gptq");
        aq::ExportOptions o;
        o.runDir = inRange;
        o.format = aq::ExportFormat::Gptq;
        o.gptqV1 = true;
        o.outDir = (m_tmp / "skewed-gptq-v1").string();
        const std::string msg = expectError([&] { aq::exportRun(o); }, aq::ErrorCode::BadInput);
        QVERIFY2(contains(msg, "model.layers.1.mlp.up_proj: zero point 0") && contains(msg, "gptq_v2"), msg.c_str());
    }

    void preflightVerdicts()
    {
        const aq::ModelConfig demo = aq::loadModelConfig(kDemo);
        auto verdict = [](const aq::PreflightReport& r, aq::ExportFormat f, const std::string& runtimePart = {}) {
            for (const auto& c : r.formats)
                if (c.format == f && (runtimePart.empty() || contains(c.runtime, runtimePart)))
                    return c.verdict;
            return aq::Deployability::Invalid;
        };
        using D = aq::Deployability;
        using F = aq::ExportFormat;
        // The presets' default is deployable everywhere it can be.
        aq::QuantConfig c = aq::presetConfig("w4a16g128");
        QVERIFY(!c.lnMatrix && c.zeroInRange);
        aq::PreflightReport r = aq::preflight(demo, c);
        QCOMPARE(verdict(r, F::HuggingFace), D::Exact);
        QCOMPARE(verdict(r, F::Awq), D::Exact);
        QCOMPARE(verdict(r, F::Gguf), D::Exact);
        // The paper's recipe: dense post-norm matrices.
        c.lnMatrix = true;
        c.zeroInRange = false;
        r = aq::preflight(demo, c);
        QCOMPARE(verdict(r, F::Gguf), D::No);
        QCOMPARE(verdict(r, F::HuggingFace), D::Extension);
        QCOMPARE(verdict(r, F::Awq), D::No);
        bool stays = false;
        for (const auto& t : r.transforms)
            stays = stays || (t.active && !t.folds && contains(t.transform, "P1"));
        QVERIFY(stays);
        QVERIFY(!r.advice.empty() && contains(aq::commandLineAdvice(r.advice[0]), "--no-ln-matrix"));
        // Deployable: vector transforms, zero in range.
        c.lnMatrix = false;
        QCOMPARE(verdict(aq::preflight(demo, c), F::Awq), D::Conditional);
        QCOMPARE(verdict(aq::preflight(demo, c), F::Gguf), D::Exact);  // Q4_1's offset holds any zero point
        c.zeroInRange = true;
        r = aq::preflight(demo, c);
        QCOMPARE(verdict(r, F::HuggingFace), D::Exact);
        QCOMPARE(verdict(r, F::Awq), D::Exact);
        QCOMPARE(verdict(r, F::Gptq, "gptq_marlin"), D::No);  // asymmetric
        QCOMPARE(verdict(r, F::Gptq, "GPTQModel"), D::Exact);
        QCOMPARE(verdict(r, F::CompressedTensors), D::Exact);
        c.symmetric = true;
        QCOMPARE(verdict(aq::preflight(demo, c), F::Gptq, "gptq_marlin"), D::Exact);
        // W4A4: hf loads the weights only; packed formats cannot carry activation quantization.
        r = aq::preflight(demo, aq::presetConfig("w4a4"));
        QCOMPARE(verdict(r, F::HuggingFace), D::WeightsOnly);
        QCOMPARE(verdict(r, F::Gguf), D::No);
        QCOMPARE(verdict(r, F::Gptq, "GPTQModel"), D::No);
        // 3-bit: no GPTQ cross-word layout, no AWQ.
        c = aq::presetConfig("w3a16g128");
        c.lnMatrix = false;
        c.zeroInRange = true;
        r = aq::preflight(demo, c);
        QCOMPARE(verdict(r, F::Awq), D::No);
        QCOMPARE(verdict(r, F::Gptq, "GPTQModel"), D::No);
        // stories260K's shapes: FFN 172 leaves a partial group for any group size here.
        const aq::ModelConfig stories = aq::parseModelConfig(
            R"({"model_type": "llama", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 172,
                "num_hidden_layers": 5, "num_attention_heads": 8, "num_key_value_heads": 4,
                "max_position_embeddings": 512})",
            "stories");
        c = aq::presetConfig("w4a16g128");
        c.lnMatrix = false;
        c.zeroInRange = true;
        c.groupSize = 32;
        r = aq::preflight(stories, c);
        QCOMPARE(verdict(r, F::HuggingFace), D::Exact);
        QCOMPARE(verdict(r, F::Awq), D::No);
        for (const auto& fc : r.formats)
            if (fc.format != F::HuggingFace)
                QVERIFY2(contains(fc.reason, "172"), fc.reason.c_str());
    }

    void commandLine()
    {
        if (!fs::exists(AQ_CLI_PATH))
            QSKIP("the affinequant program is not built");
        auto run = [](const QStringList& args) {
            QProcess p;
            p.start(QStringLiteral(AQ_CLI_PATH), args);
            p.waitForFinished(120000);
            return std::make_pair(p.exitCode(), p.readAllStandardOutput() + p.readAllStandardError());
        };
        const QString out = QString::fromStdString((m_tmp / "cli-awq").string());
        auto [code, text] = run({"export", "--run", QString::fromStdString(m_fold), "--format", "awq", "--out", out});
        QVERIFY2(code == 0, text.constData());
        std::tie(code, text) = run({"export", "--run", QString::fromStdString(m_fold), "--format", "awq", "--out", out});
        QCOMPARE(code, 2);
        QVERIFY(text.contains("already exists"));
        std::tie(code, text) = run({"export", "--run", QString::fromStdString(m_w4a4), "--format", "gptq", "--out",
                                    out + "-2"});
        QCOMPARE(code, 2);
        std::tie(code, text) = run({"verify", "--export", out, "--run", QString::fromStdString(m_fold), "--text",
                                    QString::fromStdString(kHeldout), "--seqlen", "128", "--max-windows", "2", "--json"});
        QVERIFY2(code == 0, text.constData());
        std::tie(code, text) = run({"preflight", "--model", QString::fromStdString(kDemo), "--preset", "w4a4", "--json"});
        QCOMPARE(code, 0);
        QVERIFY(text.contains("\"weights only") || text.contains("loads, weights only"));
    }
};

QTEST_GUILESS_MAIN(TestExport)
#include "tst_export.moc"
