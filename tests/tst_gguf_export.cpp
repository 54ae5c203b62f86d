// The GGUF export: float16 rounding, the ggml block layouts byte by byte, the exported demo model read back by a small
// parser of this test's own (from the GGUF description, sharing nothing with the writer or verify's reader), the
// tokenizer metadata of sentencepiece and byte-level BPE models, and every refusal.
// LibTorch headers before Qt headers.
#include "checkpoint.h"
#include "gguf_writer.h"
#include "safetensors.h"

#include "aq/calibrate.h"
#include "aq/error.h"
#include "aq/export.h"
#include "testruns.h"

#include <nlohmann/json.hpp>

#include <QProcess>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>

namespace fs = std::filesystem;
namespace gguf = aq::detail::gguf;

namespace {

const std::string kDemo = aqtest::sourcePath("resources/demo-model");

/// What this test reads of a GGUF file: metadata (numbers as double, strings, string arrays) and tensor descriptors.
struct ParsedGguf {
    uint32_t version = 0;
    std::map<std::string, double> numbers;
    std::map<std::string, std::string> strings;
    std::map<std::string, std::vector<std::string>> stringArrays;
    std::map<std::string, std::vector<double>> numberArrays;
    struct Tensor {
        std::vector<uint64_t> ne;
        uint32_t type = 0;
        uint64_t offset = 0;
    };
    std::map<std::string, Tensor> tensors;
    std::vector<std::string> order;
    uint64_t dataStart = 0;
    std::string bytes;

    const uint8_t* data(const std::string& name) const
    {
        return reinterpret_cast<const uint8_t*>(bytes.data() + dataStart + tensors.at(name).offset);
    }
};

/// Reads the whole file; every read is bounds-checked (a short file fails the test through an exception).
ParsedGguf parseGguf(const std::string& path)
{
    ParsedGguf g;
    std::ifstream in(path, std::ios::binary);
    g.bytes.assign(std::istreambuf_iterator<char>(in), {});
    size_t pos = 0;
    auto take = [&](size_t n) {
        if (pos + n > g.bytes.size())
            throw std::runtime_error("GGUF file ends early");
        const char* p = g.bytes.data() + pos;
        pos += n;
        return p;
    };
    auto u32 = [&] { uint32_t v; std::memcpy(&v, take(4), 4); return v; };
    auto u64 = [&] { uint64_t v; std::memcpy(&v, take(8), 8); return v; };
    auto str = [&] { const uint64_t n = u64(); return std::string(take(n), n); };
    // One scalar of GGUF type `t` as a double (strings are handled by the caller).
    std::function<double(uint32_t)> scalar = [&](uint32_t t) -> double {
        switch (t) {
        case 0: return static_cast<uint8_t>(*take(1));
        case 1: return static_cast<int8_t>(*take(1));
        case 2: { uint16_t v; std::memcpy(&v, take(2), 2); return v; }
        case 3: { int16_t v; std::memcpy(&v, take(2), 2); return v; }
        case 4: return u32();
        case 5: { int32_t v; std::memcpy(&v, take(4), 4); return v; }
        case 6: { float v; std::memcpy(&v, take(4), 4); return v; }
        case 7: return *take(1) ? 1 : 0;
        case 10: return static_cast<double>(u64());
        case 11: { int64_t v; std::memcpy(&v, take(8), 8); return static_cast<double>(v); }
        case 12: { double v; std::memcpy(&v, take(8), 8); return v; }
        }
        throw std::runtime_error("unexpected metadata type " + std::to_string(t));
    };
    if (std::string(take(4), 4) != "GGUF")
        throw std::runtime_error("no GGUF magic");
    g.version = u32();
    const uint64_t nTensors = u64(), nKv = u64();
    for (uint64_t i = 0; i < nKv; ++i) {
        const std::string key = str();
        const uint32_t t = u32();
        if (t == 8) {
            g.strings[key] = str();
        } else if (t == 9) {
            const uint32_t et = u32();
            const uint64_t n = u64();
            for (uint64_t j = 0; j < n; ++j) {
                if (et == 8)
                    g.stringArrays[key].push_back(str());
                else
                    g.numberArrays[key].push_back(scalar(et));
            }
        } else {
            g.numbers[key] = scalar(t);
        }
    }
    for (uint64_t i = 0; i < nTensors; ++i) {
        const std::string name = str();
        ParsedGguf::Tensor t;
        const uint32_t dims = u32();
        for (uint32_t d = 0; d < dims; ++d)
            t.ne.push_back(u64());
        t.type = u32();
        t.offset = u64();
        g.tensors[name] = t;
        g.order.push_back(name);
    }
    const uint64_t align = g.numbers.count("general.alignment") ? static_cast<uint64_t>(g.numbers["general.alignment"]) : 32;
    g.dataStart = (pos + align - 1) / align * align;
    return g;
}

/// binary16 bits to float, by the definition (sign, 5-bit exponent biased by 15, 10-bit fraction).
double halfValue(uint16_t h)
{
    const int e = (h >> 10) & 31, f = h & 1023;
    const double mag = e == 0 ? f * std::pow(2.0, -24) : (1024 + f) * std::pow(2.0, e - 25);
    return (h & 0x8000) ? -mag : mag;
}

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

using aqtest::makeRun;

template <typename F>
std::string expectBadInput(F f)
{
    try {
        f();
    } catch (const aq::Error& e) {
        return e.code() == aq::ErrorCode::BadInput ? e.what() : std::string("WRONG CODE: ") + e.what();
    }
    return "NO ERROR";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::vector<std::string> leftovers(const fs::path& dir)
{
    std::vector<std::string> r;
    for (const auto& e : fs::directory_iterator(dir))
        if (contains(e.path().filename().string(), ".partial-"))
            r.push_back(e.path().string());
    return r;
}

}  // namespace

class TestGgufExport : public QObject {
    Q_OBJECT

    fs::path m_tmp;
    std::string m_fold, m_sym, m_channel, m_w3, m_w4a4, m_lnm;

    /// `verify` of an export against its run on two windows of 64 tokens.
    static aq::VerifyResult verifyShort(const std::string& exportPath, const std::string& run)
    {
        aq::VerifyOptions v;
        v.exportDir = exportPath;
        v.runDir = run;
        v.seqlen = 64;
        v.maxWindows = 2;
        return aq::verifyExport(v);
    }

    static std::string problemsOf(const aq::VerifyResult& vr)
    {
        std::string problems;
        for (const auto& pr : vr.problems)
            problems += pr + "; ";
        return problems;
    }

    aq::ExportResult exportTo(const std::string& run, const std::string& file, bool exactOnly = false)
    {
        aq::ExportOptions o;
        o.runDir = run;
        o.format = aq::ExportFormat::Gguf;
        o.outDir = (m_tmp / file).string();
        o.force = true;
        o.exactOnly = exactOnly;
        return aq::exportRun(o);
    }

    /// Checks every quantized linear of block `block` against the run: codes recovered from the run's weights and
    /// scales, and the two float16 block factors, read from the file with this test's own parser.
    void checkLinearBlocks(const ParsedGguf& g, const std::string& run, const std::string& ggufName,
                           const std::string& hfLayer, int64_t heads, bool symmetric)
    {
        using namespace aq::detail;
        SafetensorsFile model(run + "/model/model.safetensors");
        SafetensorsFile quant(run + "/model/quantization.safetensors");
        const torch::Tensor w = model.load(hfLayer + ".weight").to(torch::kFloat64);
        const torch::Tensor s = quant.load(hfLayer + ".scales").to(torch::kFloat64);
        const torch::Tensor z = quant.load(hfLayer + ".zeros").to(torch::kFloat64);
        const int64_t out = w.size(0), in = w.size(1), groups = s.size(1), gsize = in / groups;
        const auto& t = g.tensors.at(ggufName);
        QCOMPARE(t.ne, (std::vector<uint64_t>{uint64_t(in), uint64_t(out)}));
        QCOMPARE(t.type, symmetric ? 2u : 3u);
        const int blockBytes = symmetric ? 18 : 20;
        const uint8_t* base = g.data(ggufName);
        const int64_t hd = out / std::max<int64_t>(heads, 1);
        for (int64_t row = 0; row < out; ++row) {
            // llama.cpp's RoPE pairs adjacent rows: file row 2i+j of a head holds Hugging Face row j*hd/2+i.
            int64_t hfRow = row;
            if (heads > 0) {
                const int64_t head = row / hd, r = row % hd;
                hfRow = head * hd + (r % 2) * (hd / 2) + r / 2;
            }
            for (int64_t b = 0; b < in / 32; ++b) {
                const uint8_t* blk = base + (row * (in / 32) + b) * blockBytes;
                const int64_t grp = (b * 32) / gsize;
                const double scale = s[hfRow][grp].item<double>(), zero = z[hfRow][grp].item<double>();
                const double d = halfValue(le16(blk));
                QVERIFY2(std::abs(d - scale) <= scale * std::pow(2.0, -11), ggufName.c_str());
                double m = 0;
                if (!symmetric) {
                    m = halfValue(le16(blk + 2));
                    QVERIFY(std::abs(m + scale * zero) <= std::abs(scale * zero) * std::pow(2.0, -11) + 1e-12);
                }
                const uint8_t* qs = blk + (symmetric ? 2 : 4);
                for (int j = 0; j < 32; ++j) {
                    const int code = j < 16 ? (qs[j] & 15) : (qs[j - 16] >> 4);
                    const double expected = std::round(w[hfRow][b * 32 + j].item<double>() / scale + zero);
                    if (code != expected)
                        QFAIL(qPrintable(QString("%1 row %2 block %3 weight %4: code %5, run %6")
                                             .arg(QString::fromStdString(ggufName)).arg(row).arg(b).arg(j).arg(code)
                                             .arg(expected)));
                }
            }
        }
    }

private slots:
    void initTestCase()
    {
        m_tmp = fs::temp_directory_path() / ("aq-tst-gguf-" + std::to_string(::getpid()));
        fs::remove_all(m_tmp);
        fs::create_directories(m_tmp);
        aq::QuantConfig fold = aqtest::quickConfig("w4a16g128", aq::Method::AffineQuant);
        QVERIFY(!fold.lnMatrix && fold.zeroInRange);  // the deployable default
        m_fold = (m_tmp / "run-fold").string();
        makeRun(kDemo, m_fold, fold);
        aq::QuantConfig sym = aqtest::quickConfig("w4a16g128", aq::Method::Rtn);
        sym.symmetric = true;
        m_sym = (m_tmp / "run-sym").string();
        makeRun(kDemo, m_sym, sym);
        aq::QuantConfig channel = aqtest::quickConfig("w4a16", aq::Method::Rtn);
        channel.zeroInRange = false;  // Q4_1's offset holds any zero point
        m_channel = (m_tmp / "run-channel").string();
        makeRun(kDemo, m_channel, channel);
        m_w3 = (m_tmp / "run-w3").string();
        makeRun(kDemo, m_w3, aqtest::quickConfig("w3a16g128", aq::Method::Rtn));
        m_w4a4 = (m_tmp / "run-w4a4").string();
        makeRun(kDemo, m_w4a4, aqtest::quickConfig("w4a4", aq::Method::Rtn));
        aq::QuantConfig lnm = aqtest::quickConfig("w4a16g128", aq::Method::AffineQuant);
        lnm.lnMatrix = true;
        m_lnm = (m_tmp / "run-lnm").string();
        makeRun(kDemo, m_lnm, lnm);
    }

    void cleanupTestCase() { fs::remove_all(m_tmp); }

    void halfRoundingMatchesTorch()
    {
        // Every float16 value, the midpoints between neighbours (ties to even), values beyond the range, and a seeded
        // spread of ordinary floats: floatToHalf must equal LibTorch's conversion bit for bit.
        std::vector<float> values;
        for (uint32_t h = 0; h < 0x7c00; ++h) {
            const float v = static_cast<float>(halfValue(static_cast<uint16_t>(h)));
            const float next = static_cast<float>(halfValue(static_cast<uint16_t>(h + 1)));
            values.push_back(v);
            values.push_back(-v);
            values.push_back(0.5f * (v + next));
            values.push_back(std::nextafter(0.5f * (v + next), 1e9f));
        }
        std::mt19937 rng(5);
        std::uniform_real_distribution<float> exponent(-30.0f, 17.0f);
        for (int i = 0; i < 100000; ++i)
            values.push_back(std::ldexp(1.0f + static_cast<float>(rng() % 1000000) / 1e6f, static_cast<int>(exponent(rng))));
        values.push_back(65504.0f);
        values.push_back(65519.99f);
        values.push_back(65520.0f);
        values.push_back(1e30f);
        const torch::Tensor t = torch::from_blob(values.data(), {static_cast<int64_t>(values.size())}, torch::kFloat32);
        const torch::Tensor h = t.to(torch::kHalf).contiguous();
        const auto* ref = reinterpret_cast<const uint16_t*>(h.data_ptr<at::Half>());
        for (size_t i = 0; i < values.size(); ++i)
            if (gguf::floatToHalf(values[i]) != ref[i])
                QFAIL(qPrintable(QString("%1: 0x%2, torch 0x%3").arg(values[i], 0, 'g', 9)
                                     .arg(gguf::floatToHalf(values[i]), 4, 16).arg(ref[i], 4, 16)));
        for (uint32_t b = 0; b < 0x10000; ++b)
            if ((b & 0x7c00) != 0x7c00 && gguf::halfToFloat(static_cast<uint16_t>(b)) != static_cast<float>(halfValue(b)))
                QFAIL(qPrintable(QString("halfToFloat(0x%1)").arg(b, 4, 16)));
    }

    void blockLayoutsByteByByte()
    {
        // Codes 0..15 then 15..0: low nibble j, high nibble 15-j.
        uint8_t q4[32];
        for (int j = 0; j < 16; ++j) {
            q4[j] = static_cast<uint8_t>(j);
            q4[j + 16] = static_cast<uint8_t>(15 - j);
        }
        uint8_t out[40] = {};
        gguf::packQ4_0(q4, 0x3c00, out);  // d = 1.0
        QCOMPARE(out[0], uint8_t(0x00));
        QCOMPARE(out[1], uint8_t(0x3c));
        const uint8_t expect4[16] = {0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
                                     0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f};
        QVERIFY(std::memcmp(out + 2, expect4, 16) == 0);
        gguf::packQ4_1(q4, 0x3800, 0xbc00, out);  // d = 0.5, m = -1.0
        QCOMPARE(le16(out), uint16_t(0x3800));
        QCOMPARE(le16(out + 2), uint16_t(0xbc00));
        QVERIFY(std::memcmp(out + 4, expect4, 16) == 0);
        // Q5: codes 0..31; the fifth bits are set for codes 16..31, i.e. weights 16..31.
        uint8_t q5[32];
        for (int j = 0; j < 32; ++j)
            q5[j] = static_cast<uint8_t>(j);
        gguf::packQ5_0(q5, 0x3c00, out);
        const uint8_t qh[4] = {0x00, 0x00, 0xff, 0xff};
        QVERIFY(std::memcmp(out + 2, qh, 4) == 0);
        for (int j = 0; j < 16; ++j)
            QCOMPARE(out[6 + j], uint8_t(j | (j << 4)));
        // Weight 3 with code 19 alone: its fifth bit is bit 3 of the first qh byte.
        uint8_t one[32] = {};
        one[3] = 19;
        gguf::packQ5_1(one, 0x3c00, 0x0000, out);
        QCOMPARE(out[4], uint8_t(0x08));
        QCOMPARE(out[5] | out[6] | out[7], 0);
        QCOMPARE(out[8 + 3], uint8_t(0x03));
        int8_t q8[32];
        for (int j = 0; j < 32; ++j)
            q8[j] = static_cast<int8_t>(j * 8 - 128);
        gguf::packQ8_0(q8, 0x3c00, out);
        QCOMPARE(le16(out), uint16_t(0x3c00));
        for (int j = 0; j < 32; ++j)
            QCOMPARE(static_cast<int8_t>(out[2 + j]), q8[j]);
        QCOMPARE(gguf::tensorBytes(gguf::GgmlType::Q4_1, 256, 3), uint64_t(8 * 20 * 3));
        QVERIFY(contains(expectBadInput([] { gguf::tensorBytes(gguf::GgmlType::Q4_0, 100, 1); }), "multiple of 32"));
    }

    void demoModelKeepsTheRunsGrid()
    {
        const aq::ExportResult r = exportTo(m_fold, "fold.gguf");
        QCOMPARE(r.ggufArchitecture, std::string("llama"));
        QCOMPARE(r.packedLayers, int64_t(28));
        const ParsedGguf g = parseGguf(r.outDir);
        QCOMPARE(g.version, 3u);
        QCOMPARE(g.strings.at("general.architecture"), std::string("llama"));
        QCOMPARE(g.numbers.at("llama.block_count"), 4.0);
        QCOMPARE(g.numbers.at("llama.embedding_length"), 256.0);
        QCOMPARE(g.numbers.at("llama.feed_forward_length"), 768.0);
        QCOMPARE(g.numbers.at("llama.attention.head_count"), 4.0);
        QCOMPARE(g.numbers.at("llama.attention.head_count_kv"), 2.0);
        QCOMPARE(g.numbers.at("llama.rope.dimension_count"), 64.0);
        QCOMPARE(g.numbers.at("general.file_type"), 3.0);  // mostly Q4_1
        QCOMPARE(g.strings.at("general.quantization.method"), std::string("affinequant"));
        // Tied embeddings: no output.weight; llama.cpp then uses token_embd.
        QVERIFY(!g.tensors.count("output.weight"));
        QCOMPARE(g.tensors.at("token_embd.weight").type, 1u);
        QCOMPARE(g.tensors.at("token_embd.weight").ne, (std::vector<uint64_t>{256, 2048}));
        QCOMPARE(g.tensors.at("blk.3.ffn_norm.weight").type, 0u);
        // The learned shifts are biases of the linears.
        QVERIFY(g.tensors.count("blk.0.attn_q.bias") && g.tensors.count("blk.0.ffn_up.bias"));
        // Data offsets aligned, in order, inside the file.
        uint64_t last = 0;
        for (const auto& name : g.order) {
            const auto& t = g.tensors.at(name);
            QCOMPARE(t.offset % 32, uint64_t(0));
            QVERIFY(t.offset >= last);
            last = t.offset;
        }
        QVERIFY(g.dataStart + last < g.bytes.size());
        // Codes and block factors, with the q/k rows in llama.cpp's RoPE order.
        checkLinearBlocks(g, m_fold, "blk.0.attn_v.weight", "model.layers.0.self_attn.v_proj", 0, false);
        checkLinearBlocks(g, m_fold, "blk.2.attn_q.weight", "model.layers.2.self_attn.q_proj", 4, false);
        checkLinearBlocks(g, m_fold, "blk.1.attn_k.weight", "model.layers.1.self_attn.k_proj", 2, false);
        checkLinearBlocks(g, m_fold, "blk.3.ffn_down.weight", "model.layers.3.mlp.down_proj", 0, false);
        // float16 block factors: d = fp16(s) and m = fp16(-s z) are each within 2^-11 relative of the run's, so a
        // weight d q + m moves by at most 2^-11 s (q + |z|) <= 2^-11 s (15 + |z|), plus float32 rounding of the run.
        double bound = 0;
        {
            aq::detail::SafetensorsFile quant(m_fold + "/model/quantization.safetensors");
            for (const auto& [name, e] : quant.entries())
                if (contains(name, ".scales")) {
                    const auto sc = quant.load(name).to(torch::kFloat64);
                    const auto z = quant.load(name.substr(0, name.size() - 7) + ".zeros").to(torch::kFloat64);
                    bound = std::max(bound, (sc * (z.abs() + 15)).max().item<double>());
                }
        }
        bound = bound * std::pow(2.0, -11) + 1e-6;
        qInfo("largest weight change %.3g, bound %.3g", r.maxWeightChange, bound);
        QVERIFY2(r.maxWeightChange > 0 && r.maxWeightChange <= bound, std::to_string(r.maxWeightChange).c_str());
        bool noted = false;
        for (const auto& n : r.notes)
            noted = noted || (contains(n, "Q4_1") && contains(n, "largest weight change"));
        QVERIFY(noted);
        QVERIFY(leftovers(m_tmp).empty());
    }

    void sentencepieceVocabulary()
    {
        const ParsedGguf g = parseGguf(exportTo(m_fold, "vocab.gguf").outDir);
        QCOMPARE(g.strings.at("tokenizer.ggml.model"), std::string("llama"));
        const auto& tokens = g.stringArrays.at("tokenizer.ggml.tokens");
        QCOMPARE(tokens.size(), size_t(2048));
        QCOMPARE(tokens[0], std::string("<unk>"));
        QCOMPARE(tokens[1], std::string("<s>"));
        QCOMPARE(tokens[2], std::string("</s>"));
        QCOMPARE(g.numberArrays.at("tokenizer.ggml.scores").size(), size_t(2048));
        const auto& types = g.numberArrays.at("tokenizer.ggml.token_type");
        QCOMPARE(types[0], 2.0);  // unknown
        QCOMPARE(types[1], 3.0);  // control
        QCOMPARE(g.numbers.at("tokenizer.ggml.bos_token_id"), 1.0);
        QCOMPARE(g.numbers.at("tokenizer.ggml.eos_token_id"), 2.0);
        QCOMPARE(g.numbers.at("tokenizer.ggml.add_bos_token"), 1.0);
        QCOMPARE(g.numbers.at("tokenizer.ggml.add_space_prefix"), 1.0);
        // Byte pieces: <0x0A> is a byte token.
        const auto it = std::find(tokens.begin(), tokens.end(), "<0x0A>");
        QVERIFY(it != tokens.end());
        QCOMPARE(types[static_cast<size_t>(it - tokens.begin())], 6.0);
    }

    void symmetricIsQ4_0AndPerChannelIsQ4_1()
    {
        aq::ExportResult r = exportTo(m_sym, "sym.gguf");
        ParsedGguf g = parseGguf(r.outDir);
        QCOMPARE(g.numbers.at("general.file_type"), 2.0);
        checkLinearBlocks(g, m_sym, "blk.1.attn_q.weight", "model.layers.1.self_attn.q_proj", 4, true);
        checkLinearBlocks(g, m_sym, "blk.0.ffn_gate.weight", "model.layers.0.mlp.gate_proj", 0, true);
        r = exportTo(m_channel, "channel.gguf");
        g = parseGguf(r.outDir);
        checkLinearBlocks(g, m_channel, "blk.0.attn_output.weight", "model.layers.0.self_attn.o_proj", 0, false);
        checkLinearBlocks(g, m_channel, "blk.3.attn_k.weight", "model.layers.3.self_attn.k_proj", 2, false);
    }

    void threeBitsAreF16UnlessExactOnly()
    {
        const aq::ExportResult r = exportTo(m_w3, "w3.gguf");
        const ParsedGguf g = parseGguf(r.outDir);
        QCOMPARE(g.tensors.at("blk.0.attn_q.weight").type, 1u);  // F16
        bool noted = false;
        for (const auto& n : r.notes)
            noted = noted || (contains(n, "dequantized F16") && contains(n, "3-bit"));
        QVERIFY(noted);
        const std::string msg = expectBadInput([&] { exportTo(m_w3, "w3-exact.gguf", true); });
        QVERIFY2(contains(msg, "--exact-only") && contains(msg, "3-bit"), msg.c_str());
        QVERIFY(!fs::exists(m_tmp / "w3-exact.gguf"));
    }

    void refusals()
    {
        std::string msg = expectBadInput([&] { exportTo(m_w4a4, "w4a4.gguf"); });
        QVERIFY2(contains(msg, "quantizes activations"), msg.c_str());
        QVERIFY(!fs::exists(m_tmp / "w4a4.gguf"));
        msg = expectBadInput([&] { exportTo(m_lnm, "lnm.gguf"); });
        QVERIFY2(contains(msg, "--ln-matrix") && contains(msg, "llama.cpp has no place"), msg.c_str());
        // An unfinished run.
        const fs::path unfinished = m_tmp / "unfinished";
        fs::create_directories(unfinished);
        std::ofstream(unfinished / "progress.json") << "{}";
        msg = expectBadInput([&] { exportTo(unfinished.string(), "unfinished.gguf"); });
        QVERIFY2(contains(msg, "unfinished"), msg.c_str());
        // An existing file needs --force, and stays whole without it.
        const fs::path existing = m_tmp / "existing.gguf";
        std::ofstream(existing) << "mine";
        aq::ExportOptions o;
        o.runDir = m_fold;
        o.format = aq::ExportFormat::Gguf;
        o.outDir = existing.string();
        msg = expectBadInput([&] { aq::exportRun(o); });
        QVERIFY2(contains(msg, "already exists") && contains(msg, "--force"), msg.c_str());
        QCOMPARE(fs::file_size(existing), uintmax_t(4));
        // A folder where the file should go.
        fs::create_directories(m_tmp / "a-folder.gguf");
        o.outDir = (m_tmp / "a-folder.gguf").string();
        o.force = true;
        msg = expectBadInput([&] { aq::exportRun(o); });
        QVERIFY2(contains(msg, "not a regular file"), msg.c_str());
        // Options of other formats.
        o.outDir = (m_tmp / "opts.gguf").string();
        o.allowExtension = true;
        msg = expectBadInput([&] { aq::exportRun(o); });
        QVERIFY2(contains(msg, "--allow-extension"), msg.c_str());
        QVERIFY(leftovers(m_tmp).empty());
    }

    void q6kTokenEmbeddings()
    {
        // --token-embedding-type q6_k: token_embd as Q6_K (type 14), 210 bytes per 256 values; verify holds it to
        // the run's embeddings rounded to Q6_K, bit for bit, and still passes.
        aq::ExportOptions o;
        o.runDir = m_fold;
        o.format = aq::ExportFormat::Gguf;
        o.outDir = (m_tmp / "q6k-embd.gguf").string();
        o.force = true;
        o.q6kEmbeddings = true;
        const aq::ExportResult r = aq::exportRun(o);
        const ParsedGguf g = parseGguf(r.outDir);
        QCOMPARE(g.tensors.at("token_embd.weight").type, 14u);
        bool noted = false;
        for (const auto& n : r.notes)
            noted = noted || contains(n, "token embeddings (also the tied output layer) as Q6_K");
        QVERIFY(noted);
        const uintmax_t floatSize = fs::file_size(exportTo(m_fold, "f16-embd.gguf").outDir);
        const aq::detail::Checkpoint demo(kDemo);
        const int64_t embd = demo.config().vocabSize * demo.config().hiddenSize;
        // F16 (2 bytes a value) replaced by Q6_K (210 / 256 bytes a value); alignment padding aside.
        const double saved = static_cast<double>(floatSize) - static_cast<double>(fs::file_size(r.outDir));
        QVERIFY2(std::abs(saved - static_cast<double>(embd) * (2.0 - 210.0 / 256.0)) < 64, std::to_string(saved).c_str());
        const aq::VerifyResult vr = verifyShort(r.outDir, m_fold);
        QVERIFY2(vr.ok, problemsOf(vr).c_str());
        bool bitForBit = false;
        for (const auto& d : vr.tensors)
            bitForBit = bitForBit || (d.name == "model.embed_tokens.weight" && d.ok && contains(d.source, "bit for bit"));
        QVERIFY(bitForBit);
        // Other formats refuse the option.
        o.format = aq::ExportFormat::HuggingFace;
        o.outDir = (m_tmp / "q6k-hf").string();
        const std::string msg = expectBadInput([&] { aq::exportRun(o); });
        QVERIFY2(contains(msg, "--token-embedding-type q6_k applies to --format gguf only"), msg.c_str());
    }

    void optIsRefused()
    {
        AQ_REQUIRE_FIXTURE(opt, "models/tiny-random-opt-hf");
        const std::string run = (m_tmp / "run-opt").string();
        aq::QuantConfig c = aq::presetConfig("w4a16", aq::Method::Rtn, aq::Architecture::Opt);
        c.nsamples = 2;
        c.seqlen = 32;
        makeRun(opt, run, c);
        const std::string msg = expectBadInput([&] { exportTo(run, "opt.gguf"); });
        QVERIFY2(contains(msg, "llama.cpp has no architecture for opt"), msg.c_str());
    }

    void fullDiskLeavesNothing()
    {
        if (::geteuid() != 0)
            QSKIP("needs root to mount a small tmpfs");
        const fs::path small = m_tmp / "small";
        fs::create_directories(small);
        if (std::system(("mount -t tmpfs -o size=1m aqgguf " + small.string() + " 2>/dev/null").c_str()) != 0)
            QSKIP("mounting a tmpfs is not allowed here");
        aq::ExportOptions o;
        o.runDir = m_fold;
        o.format = aq::ExportFormat::Gguf;
        o.outDir = (small / "full.gguf").string();
        const std::string msg = expectBadInput([&] { aq::exportRun(o); });
        std::vector<std::string> left;
        for (const auto& e : fs::directory_iterator(small))
            left.push_back(e.path().string());
        std::system(("umount " + small.string()).c_str());
        QVERIFY2(contains(msg, "disk full") && contains(msg, "nothing was left"), msg.c_str());
        QVERIFY(left.empty());

        // A read-only location: refused before anything is written.
        const fs::path ro = m_tmp / "readonly";
        fs::create_directories(ro);
        if (std::system(("mount -t tmpfs -o ro,size=1m aqggufro " + ro.string() + " 2>/dev/null").c_str()) != 0)
            QSKIP("mounting a read-only tmpfs is not allowed here");
        o.outDir = (ro / "model.gguf").string();
        const std::string roMsg = expectBadInput([&] { aq::exportRun(o); });
        const bool empty = fs::is_empty(ro);
        std::system(("umount " + ro.string()).c_str());
        QVERIFY2(contains(roMsg, "read-only") && contains(roMsg, "nothing was written"), roMsg.c_str());
        QVERIFY(empty);
    }

    void byteLevelBpeModels_data()
    {
        QTest::addColumn<QString>("modelType");
        QTest::addColumn<QString>("tokenizer");
        QTest::addColumn<QString>("pre");
        QTest::addColumn<QString>("arch");
        QTest::newRow("qwen2, GPT-2 vocab.json + merges.txt") << "qwen2" << "" << "gpt-2" << "qwen2";
        QTest::newRow("qwen2, tokenizer.json with Qwen2's regex") << "qwen2" << "qwen2" << "qwen2" << "qwen2";
        QTest::newRow("llama, tokenizer.json with LLaMA-3's regex") << "llama" << "llama3" << "llama-bpe" << "llama";
    }
    void byteLevelBpeModels()
    {
        QFETCH(QString, modelType);
        QFETCH(QString, tokenizer);
        QFETCH(QString, pre);
        QFETCH(QString, arch);
        AQ_REQUIRE_FIXTURE(gpt2, "tokenizers/gpt2");
        const fs::path model = m_tmp / ("bpe-" + modelType.toStdString() + "-" + tokenizer.toStdString());
        QStringList args = {"--shape", "tiny", "--out", QString::fromStdString(model.string()), "--model-type", modelType,
                            "--bpe", QString::fromStdString(gpt2), "--dtype", "float16"};
        if (!tokenizer.isEmpty())
            args << "--bpe-json" << tokenizer;
        QProcess p;
        p.start(QStringLiteral(AQ_MAKE_SYNTHETIC_PATH), args);
        QVERIFY(p.waitForFinished(60000));
        QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());
        const std::string run = (m_tmp / ("run-" + model.filename().string())).string();
        makeRun(model.string(), run, aqtest::quickConfig("w4a16", aq::Method::Rtn));
        const aq::ExportResult r = exportTo(run, model.filename().string() + ".gguf");
        const ParsedGguf g = parseGguf(r.outDir);
        QCOMPARE(QString::fromStdString(g.strings.at("general.architecture")), arch);
        QCOMPARE(g.strings.at("tokenizer.ggml.model"), std::string("gpt2"));
        QCOMPARE(QString::fromStdString(g.strings.at("tokenizer.ggml.pre")), pre);
        const auto& tokens = g.stringArrays.at("tokenizer.ggml.tokens");
        QCOMPARE(tokens.size(), size_t(50257));
        QCOMPARE(tokens[50256], std::string("<|endoftext|>"));
        QCOMPARE(tokens[0], std::string("!"));
        std::ifstream merges(gpt2 + "/merges.txt");
        size_t mergeLines = 0;
        for (std::string line; std::getline(merges, line);)
            mergeLines += !line.empty() && line.rfind("#version", 0) != 0;
        QCOMPARE(g.stringArrays.at("tokenizer.ggml.merges").size(), mergeLines);
        QCOMPARE(g.numbers.at("tokenizer.ggml.add_bos_token"), 0.0);
        // Untied output layer; qwen2's q/k/v biases; no permutation for qwen2 (NEOX RoPE).
        QVERIFY(g.tensors.count("output.weight"));
        QCOMPARE(g.tensors.count("blk.1.attn_k.bias"), size_t(modelType == "qwen2" ? 1 : 0));
        checkLinearBlocks(g, run, "blk.1.attn_q.weight", "model.layers.1.self_attn.q_proj", arch == "llama" ? 4 : 0,
                          false);
        // verify reads the file back with its own reader, vocabulary and biases included, and runs both models.
        const aq::VerifyResult vr = verifyShort(r.outDir, run);
        QVERIFY2(vr.ok, problemsOf(vr).c_str());
        QVERIFY2(vr.meanKl < 1e-4 && vr.top1Agreement > 0.99, std::to_string(vr.meanKl).c_str());
    }

    void unknownPreTokenizerIsRefused()
    {
        AQ_REQUIRE_FIXTURE(gpt2, "tokenizers/gpt2");
        const fs::path model = m_tmp / "bpe-odd";
        QProcess p;
        p.start(QStringLiteral(AQ_MAKE_SYNTHETIC_PATH),
                {"--shape", "tiny", "--out", QString::fromStdString(model.string()), "--bpe", QString::fromStdString(gpt2),
                 "--bpe-json", "gpt2"});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 0);
        // A regex of its own: llama.cpp would split differently.
        nlohmann::json tok = nlohmann::json::parse(std::ifstream(model / "tokenizer.json"));
        tok["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = R"(\p{L}+|\s+|.)";
        std::ofstream(model / "tokenizer.json") << tok.dump();
        const std::string run = (m_tmp / "run-bpe-odd").string();
        makeRun(model.string(), run, aqtest::quickConfig("w4a16", aq::Method::Rtn));
        const std::string msg = expectBadInput([&] { exportTo(run, "odd.gguf"); });
        QVERIFY2(contains(msg, "is not one llama.cpp knows"), msg.c_str());
        QVERIFY(!fs::exists(m_tmp / "odd.gguf"));
    }

    void commandLine()
    {
        QProcess p;
        const QString out = QString::fromStdString((m_tmp / "cli.gguf").string());
        p.start(QStringLiteral(AQ_CLI_PATH), {"export", "--run", QString::fromStdString(m_fold), "--format", "gguf",
                                              "--out", out, "--json"});
        QVERIFY(p.waitForFinished(120000));
        QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());
        const auto j = nlohmann::json::parse(p.readAllStandardOutput().toStdString());
        QCOMPARE(j["gguf_architecture"].get<std::string>(), std::string("llama"));
        QCOMPARE(j["tensor_types"]["Q4_1"].get<int>(), 28);
        p.start(QStringLiteral(AQ_CLI_PATH), {"export", "--run", QString::fromStdString(m_fold), "--format", "hf",
                                              "--out", out + ".dir", "--exact-only"});
        QVERIFY(p.waitForFinished(120000));
        QCOMPARE(p.exitCode(), 2);
        QVERIFY(p.readAllStandardError().contains("--exact-only applies to --format gguf only"));
        p.start(QStringLiteral(AQ_CLI_PATH), {"export", "--run", QString::fromStdString(m_w4a4), "--format", "gguf",
                                              "--out", out + ".w4a4"});
        QVERIFY(p.waitForFinished(120000));
        QCOMPARE(p.exitCode(), 2);
        QVERIFY(!QFile::exists(out + ".w4a4"));
    }
};

QTEST_GUILESS_MAIN(TestGgufExport)
#include "tst_gguf_export.moc"
