// The GGUF reader on hand-built files: every metadata type, every decoded ggml type with its bit order, alignment, the
// llama q/k row order, and corrupt or hostile inputs. Files are assembled byte by byte here and the expected values
// are worked out by hand (comments show the arithmetic); nothing of the reader or the writer computes a reference.
// Then verification end to end: GGUF exports of demo-model runs pass, and deliberately damaged copies are reported.
// LibTorch headers before Qt headers.
#include "gguf_reader.h"

#include <torch/types.h>

#include "aq/calibrate.h"
#include "aq/error.h"
#include "aq/export.h"
#include "testruns.h"

#include <QProcess>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>

namespace fs = std::filesystem;
using namespace aq::detail;

namespace {

// Metadata value type codes and ggml type codes of the format, written out here rather than taken from the reader.
constexpr uint32_t kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kStr = 8, kArr = 9,
                   kU64 = 10, kI64 = 11, kF64 = 12;
constexpr uint32_t kTypeF32 = 0, kTypeF16 = 1, kTypeQ4_0 = 2, kTypeQ4_1 = 3, kTypeQ5_0 = 6, kTypeQ5_1 = 7,
                   kTypeQ8_0 = 8, kTypeQ2_K = 10, kTypeQ3_K = 11, kTypeQ4_K = 12, kTypeQ5_K = 13, kTypeQ6_K = 14,
                   kTypeQ8_K = 15, kTypeBF16 = 30;

/// A GGUF file under construction, little-endian.
struct Bytes {
    std::string b;
    Bytes& u8(uint8_t v)
    {
        b.push_back(static_cast<char>(v));
        return *this;
    }
    Bytes& u16(uint16_t v) { return u8(v & 0xFF).u8(v >> 8); }
    Bytes& u32(uint32_t v) { return u16(v & 0xFFFF).u16(v >> 16); }
    Bytes& u64(uint64_t v) { return u32(static_cast<uint32_t>(v)).u32(static_cast<uint32_t>(v >> 32)); }
    Bytes& f32(float f)
    {
        uint32_t x;
        std::memcpy(&x, &f, 4);
        return u32(x);
    }
    Bytes& f64(double f)
    {
        uint64_t x;
        std::memcpy(&x, &f, 8);
        return u64(x);
    }
    Bytes& str(const std::string& s)
    {
        u64(s.size());
        b += s;
        return *this;
    }
    Bytes& header(uint64_t tensors, uint64_t kvs, uint32_t version = 3)
    {
        b += "GGUF";
        return u32(version).u64(tensors).u64(kvs);
    }
    Bytes& key(const std::string& k, uint32_t type) { return str(k).u32(type); }
    Bytes& tensor(const std::string& name, const std::vector<uint64_t>& ne, uint32_t type, uint64_t offset)
    {
        str(name).u32(static_cast<uint32_t>(ne.size()));
        for (uint64_t n : ne)
            u64(n);
        return u32(type).u64(offset);
    }
    Bytes& pad(size_t alignment)
    {
        while (b.size() % alignment)
            u8(0);
        return *this;
    }
    Bytes& raw(const std::vector<uint8_t>& v)
    {
        for (uint8_t x : v)
            u8(x);
        return *this;
    }
};

using ByteValues = std::vector<std::pair<int, uint8_t>>;  // (byte, value)
using WeightValues = std::vector<std::pair<int, float>>;  // (weight, value)

bool contains(const std::string& s, const std::string& part)
{
    return s.find(part) != std::string::npos;
}

const std::string kDemo = aqtest::sourcePath("resources/demo-model");
const std::string kHeldout = aqtest::sourcePath("resources/demo-text/heldout.txt");

std::string readAll(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string joined(const std::vector<std::string>& lines)
{
    std::string r;
    for (const auto& l : lines)
        r += l + "\n";
    return r;
}

/// The problem that contains `part`, or empty.
std::string problemWith(const aq::VerifyResult& r, const std::string& part)
{
    for (const auto& p : r.problems)
        if (contains(p, part))
            return p;
    return {};
}

}  // namespace

class TestGguf : public QObject {
    Q_OBJECT

    fs::path m_tmp;
    int m_counter = 0;
    std::map<std::string, std::pair<std::string, std::string>> m_exports;  // key -> (run, .gguf)

    /// A quick calibration of the demo model (4 samples of 64 tokens) exported as GGUF; made once per key.
    std::pair<std::string, std::string> runAndExport(const std::string& key, const std::string& preset,
                                                     aq::Method method, bool symmetric)
    {
        if (const auto it = m_exports.find(key); it != m_exports.end())
            return it->second;
        aq::QuantConfig c = aqtest::quickConfig(preset, method);
        c.symmetric = symmetric;
        const std::string runDir = (m_tmp / ("run-" + key)).string();
        aqtest::makeRun(kDemo, runDir, c);
        aq::ExportOptions o;
        o.runDir = runDir;
        o.format = aq::ExportFormat::Gguf;
        o.outDir = (m_tmp / (key + ".gguf")).string();
        o.force = true;
        aq::exportRun(o);
        return m_exports[key] = {runDir, o.outDir};
    }

    aq::VerifyResult verify(const std::string& run, const std::string& gguf)
    {
        aq::VerifyOptions o;
        o.exportDir = gguf;
        o.runDir = run;
        o.textPath = kHeldout;
        o.seqlen = 256;
        o.maxWindows = 2;
        return aq::verifyExport(o);
    }

    std::string write(const std::string& bytes, const std::string& name = {})
    {
        const fs::path p = m_tmp / (name.empty() ? "f" + std::to_string(m_counter++) + ".gguf" : name);
        std::ofstream(p, std::ios::binary | std::ios::trunc)
            .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        return p.string();
    }

    /// Opens `bytes` expecting BadInput; returns the message (or a marker when something else happened).
    std::string openError(const std::string& bytes)
    {
        const std::string path = write(bytes);
        try {
            GgufFile f(path);
        } catch (const aq::Error& e) {
            const std::string msg = e.what();
            if (e.code() != aq::ErrorCode::BadInput)
                return "WRONG CODE: " + msg;
            if (!contains(msg, path))
                return "NO PATH IN: " + msg;
            return msg;
        } catch (const std::exception& e) {
            return std::string("FOREIGN EXCEPTION: ") + e.what();
        }
        return "NO ERROR";
    }

    /// A small valid file: metadata of a few types and three tensors (F32, Q4_0, F16) at aligned offsets.
    std::string validFile()
    {
        Bytes f;
        f.header(3, 3);
        f.key("general.architecture", kStr).str("llama");
        f.key("tokenizer.ggml.tokens", kArr).u32(kStr).u64(2).str("<s>").str("a");
        f.key("general.alignment", kU32).u32(32);
        f.tensor("a", {2}, kTypeF32, 0);
        f.tensor("b", {32}, kTypeQ4_0, 32);
        f.tensor("c", {4}, kTypeF16, 64);
        f.pad(32);
        f.f32(1.5f).f32(-2.0f).pad(32);
        f.u16(0x3C00);  // d = 1
        for (int j = 0; j < 16; ++j)
            f.u8(static_cast<uint8_t>(j | (j << 4)));
        f.pad(32).u16(0x3C00).u16(0x4000).u16(0xC200).u16(0x0000);
        return f.b;
    }

private slots:
    void initTestCase()
    {
        m_tmp = fs::temp_directory_path() / ("aq-tst-gguf-" + std::to_string(::getpid()));
        fs::remove_all(m_tmp);
        fs::create_directories(m_tmp);
    }
    void cleanupTestCase() { fs::remove_all(m_tmp); }

    void metadataOfEveryType()
    {
        Bytes f;
        f.header(0, 19);
        f.key("u8", kU8).u8(200);
        f.key("i8", kI8).u8(0xFB);  // -5
        f.key("u16", kU16).u16(65000);
        f.key("i16", kI16).u16(0x8AD0);  // -30000 = 0x10000 - 30000 = 35536 = 0x8AD0
        f.key("u32", kU32).u32(4000000000u);
        f.key("i32", kI32).u32(0x88CA6C00u);  // -2000000000 = 2^32 - 2000000000 = 2294967296 = 0x88CA6C00
        f.key("f32", kF32).u32(0x3E800000u);  // 0.25
        f.key("bool", kBool).u8(1);
        f.key("str", kStr).str("h\xC3\xA9llo");
        f.key("u64", kU64).u64(0x8000000000000005ull);  // 2^63 + 5: does not fit int64
        f.key("i64", kI64).u64(0xFFFFFF0000000000ull);  // -2^40
        f.key("f64", kF64).u64(0x3FF8000000000000ull);  // 1.5
        f.key("strings", kArr).u32(kStr).u64(3).str("a").str("").str("ccc");
        f.key("floats", kArr).u32(kF32).u64(2).u32(0x3FC00000u).u32(0xC0000000u);  // 1.5, -2
        f.key("ints", kArr).u32(kI32).u64(2).u32(0xFFFFFFFFu).u32(7);              // -1, 7
        f.key("bytes", kArr).u32(kU8).u64(3).u8(1).u8(2).u8(255);
        f.key("nested", kArr).u32(kArr).u64(2);
        f.u32(kI16).u64(1).u16(1);
        f.u32(kI16).u64(2).u16(2).u16(0xFFFD);  // 2, -3
        f.key("bools", kArr).u32(kBool).u64(2).u8(1).u8(0);
        f.key("empty", kArr).u32(kF64).u64(0);
        const GgufFile g(write(f.b));
        QCOMPARE(g.version(), 3u);
        QCOMPARE(g.metadata().size(), size_t(19));
        QCOMPARE(g.metadata()[0].first, std::string("u8"));
        QCOMPARE(g.metadata()[18].first, std::string("empty"));
        QCOMPARE(g.alignment(), uint64_t(32));
        QCOMPARE(*g.getInt("u8"), int64_t(200));
        QCOMPARE(*g.getInt("i8"), int64_t(-5));
        QCOMPARE(*g.getInt("u16"), int64_t(65000));
        QCOMPARE(*g.getInt("i16"), int64_t(-30000));
        QCOMPARE(*g.getInt("u32"), int64_t(4000000000));
        QCOMPARE(*g.getInt("i32"), int64_t(-2000000000));
        QCOMPARE(*g.getFloat("f32"), 0.25);
        QCOMPARE(*g.getBool("bool"), true);
        QCOMPARE(*g.getString("str"), std::string("h\xC3\xA9llo"));
        QCOMPARE(std::get<uint64_t>(g.find("u64")->data), 0x8000000000000005ull);
        QCOMPARE(*g.getInt("i64"), -(int64_t(1) << 40));
        QCOMPARE(*g.getFloat("f64"), 1.5);
        QCOMPARE(*g.getStringArray("strings"), (std::vector<std::string>{"a", "", "ccc"}));
        QCOMPARE(*g.getFloatArray("floats"), (std::vector<double>{1.5, -2.0}));
        QCOMPARE(*g.getIntArray("ints"), (std::vector<int64_t>{-1, 7}));
        QCOMPARE(*g.getIntArray("bytes"), (std::vector<int64_t>{1, 2, 255}));
        QVERIFY(g.getFloatArray("empty")->empty());
        const GgufValue* nested = g.find("nested");
        QVERIFY(nested && nested->isArray() && nested->elementType == GgufValueType::Array);
        const auto& inner = std::get<std::vector<GgufValue>>(nested->data);
        QCOMPARE(inner.size(), size_t(2));
        QCOMPARE(std::get<std::vector<int64_t>>(inner[1].data), (std::vector<int64_t>{2, -3}));
        QCOMPARE(std::get<std::vector<uint64_t>>(g.find("bools")->data), (std::vector<uint64_t>{1, 0}));
        QCOMPARE(g.find("strings")->describe(), std::string("ARRAY of 3 STRING"));
        QCOMPARE(g.find("u32")->describe(), std::string("UINT32 4000000000"));
        // Absent keys are nullopt; a value of another type, or one that does not fit, is BadInput naming the key.
        QVERIFY(!g.getString("missing"));
        QVERIFY(!g.find("missing"));
        auto error = [](auto f) {
            try {
                f();
            } catch (const aq::Error& e) {
                return e.code() == aq::ErrorCode::BadInput ? std::string(e.what()) : std::string("WRONG CODE");
            }
            return std::string("NO ERROR");
        };
        QVERIFY(contains(error([&] { g.getInt("u64"); }), "'u64'"));
        QVERIFY(contains(error([&] { g.getString("u32"); }), "holds UINT32 4000000000, expected a STRING"));
        QVERIFY(contains(error([&] { g.getFloat("i32"); }), "expected FLOAT32 or FLOAT64"));
        QVERIFY(contains(error([&] { g.getInt("bool"); }), "expected an integer"));
        QVERIFY(contains(error([&] { g.getStringArray("floats"); }), "ARRAY of 2 FLOAT32"));
        QVERIFY(contains(error([&] { g.getIntArray("bools"); }), "'bools'"));
        QVERIFY(g.tensors().empty());
    }

    void version2IsRead()
    {
        Bytes f;
        f.header(0, 1, 2);
        f.key("general.name", kStr).str("v2");
        const GgufFile g(write(f.b));
        QCOMPARE(g.version(), 2u);
        QCOMPARE(*g.getString("general.name"), std::string("v2"));
    }

    void floatTypes()
    {
        Bytes f;
        f.header(3, 0);
        f.tensor("f32", {3, 2}, kTypeF32, 0);  // 24 bytes
        f.tensor("f16", {8}, kTypeF16, 32);    // 16 bytes
        f.tensor("bf16", {3}, kTypeBF16, 64);  // 6 bytes
        f.pad(32);
        f.f32(1.0f).f32(-0.5f).f32(3.25f).f32(1e-30f).f32(-7.0f).f32(65536.0f).pad(32);
        // 1.0; -2.0; 0x3555 = 2^(13-15) * (1 + 341/1024) = 0.333251953125; 0x0001 = 2^-24 (smallest subnormal);
        // 0x7BFF = 2^15 * (1 + 1023/1024) = 65504; 0x8000 = -0; 0x7C00 = +inf; 0x0200 = 512 * 2^-24 = 2^-15
        f.u16(0x3C00).u16(0xC000).u16(0x3555).u16(0x0001).u16(0x7BFF).u16(0x8000).u16(0x7C00).u16(0x0200).pad(32);
        // bf16: 0x3F80 = 1.0; 0xC0A0 = -(2^2 * 1.25) = -5; 0x3E20 = 2^-3 * 1.25 = 0.15625
        f.u16(0x3F80).u16(0xC0A0).u16(0x3E20);
        const GgufFile g(write(f.b));
        QCOMPARE(g.tensors().size(), size_t(3));
        const GgufTensorInfo& a = g.tensors()[0];
        QCOMPARE(a.name, std::string("f32"));
        QCOMPARE(a.ne, (std::vector<uint64_t>{3, 2}));
        QCOMPARE(a.shape(), (std::vector<int64_t>{2, 3}));
        QCOMPARE(a.numBytes, uint64_t(24));
        QCOMPARE(a.numElements, uint64_t(6));
        QCOMPARE(g.decodeFloats(a), (std::vector<float>{1.0f, -0.5f, 3.25f, 1e-30f, -7.0f, 65536.0f}));
        const auto h = g.decodeFloats(*g.findTensor("f16"));
        QCOMPARE(h[0], 1.0f);
        QCOMPARE(h[1], -2.0f);
        QCOMPARE(h[2], 0.333251953125f);
        QCOMPARE(h[3], static_cast<float>(std::ldexp(1.0, -24)));
        QCOMPARE(h[4], 65504.0f);
        QVERIFY(h[5] == 0.0f && std::signbit(h[5]));
        QVERIFY(std::isinf(h[6]) && h[6] > 0);
        QCOMPARE(h[7], static_cast<float>(std::ldexp(1.0, -15)));
        QCOMPARE(g.decodeFloats(*g.findTensor("bf16")), (std::vector<float>{1.0f, -5.0f, 0.15625f}));
        QCOMPARE(g.findTensor("bf16")->offset, uint64_t(64));
        QCOMPARE(g.dataOffset() % 32, uint64_t(0));
        QVERIFY(!g.findTensor("nothing"));
        // Integer codes exist only for the block types.
        bool refused = false;
        try {
            g.decodeBlocks(a);
        } catch (const aq::Error& e) {
            refused = e.code() == aq::ErrorCode::BadInput && contains(e.what(), "'f32' is F32");
        }
        QVERIFY(refused);
    }

    void q4_0NibbleOrder()
    {
        Bytes f;
        f.header(1, 0);
        f.tensor("q", {64}, kTypeQ4_0, 0);  // two blocks of 18 bytes
        f.pad(32);
        // Block 0: d = 0x3800 = 0.5; byte j = j | (15 - j) << 4: weight j has code j, weight j + 16 has code 15 - j.
        f.u16(0x3800);
        for (int j = 0; j < 16; ++j)
            f.u8(static_cast<uint8_t>(j | ((15 - j) << 4)));
        // Block 1: d = 0x4000 = 2; every byte 0x8F: low nibble 15, high nibble 8.
        f.u16(0x4000);
        for (int j = 0; j < 16; ++j)
            f.u8(0x8F);
        const GgufFile g(write(f.b));
        const GgufTensorInfo& t = g.tensors()[0];
        QCOMPARE(t.numBytes, uint64_t(36));
        const auto w = g.decodeFloats(t);
        QCOMPARE(w.size(), size_t(64));
        // w = d * (q - 8)
        QCOMPARE(w[0], -4.0f);   // 0.5 * (0 - 8)
        QCOMPARE(w[1], -3.5f);   // 0.5 * (1 - 8)
        QCOMPARE(w[8], 0.0f);    // 0.5 * (8 - 8)
        QCOMPARE(w[15], 3.5f);   // 0.5 * (15 - 8)
        QCOMPARE(w[16], 3.5f);   // high nibble of byte 0: 15
        QCOMPARE(w[17], 3.0f);   // high nibble of byte 1: 14
        QCOMPARE(w[31], -4.0f);  // high nibble of byte 15: 0
        for (int j = 0; j < 16; ++j) {
            QCOMPARE(w[static_cast<size_t>(32 + j)], 14.0f);  // 2 * (15 - 8)
            QCOMPARE(w[static_cast<size_t>(48 + j)], 0.0f);   // 2 * (8 - 8)
        }
        const GgufBlockCodes c = g.decodeBlocks(t);
        QCOMPARE(c.codeOffset, 8);
        QCOMPARE(c.codeMin, 0);
        QCOMPARE(c.codeMax, 15);
        QVERIFY(!c.hasMin && c.mins.empty());
        QCOMPARE(c.scales, (std::vector<float>{0.5f, 2.0f}));
        QCOMPARE(int(c.codes[3]), 3);
        QCOMPARE(int(c.codes[19]), 12);
        QCOMPARE(int(c.codes[40]), 15);
        QCOMPARE(int(c.codes[63]), 8);
    }

    void q4_1WithMin()
    {
        Bytes f;
        f.header(1, 0);
        f.tensor("q", {32}, kTypeQ4_1, 0);
        f.pad(32);
        // d = 0x3400 = 0.25, m = 0xBE00 = -(2^0 * 1.5) = -1.5; byte j = (15 - j) | j << 4.
        f.u16(0x3400).u16(0xBE00);
        for (int j = 0; j < 16; ++j)
            f.u8(static_cast<uint8_t>((15 - j) | (j << 4)));
        const GgufFile g(write(f.b));
        QCOMPARE(g.tensors()[0].numBytes, uint64_t(20));
        const auto w = g.decodeFloats(g.tensors()[0]);
        // w = d * q + m
        QCOMPARE(w[0], 2.25f);   // 0.25 * 15 - 1.5
        QCOMPARE(w[6], 0.75f);   // 0.25 * 9 - 1.5
        QCOMPARE(w[15], -1.5f);  // 0.25 * 0 - 1.5
        QCOMPARE(w[16], -1.5f);  // high nibble of byte 0: 0
        QCOMPARE(w[22], 0.0f);   // high nibble of byte 6: 6 -> 1.5 - 1.5
        QCOMPARE(w[31], 2.25f);  // high nibble of byte 15: 15
        const GgufBlockCodes c = g.decodeBlocks(g.tensors()[0]);
        QVERIFY(c.hasMin);
        QCOMPARE(c.codeOffset, 0);
        QCOMPARE(c.mins, (std::vector<float>{-1.5f}));
        QCOMPARE(c.scales, (std::vector<float>{0.25f}));
        QCOMPARE(int(c.codes[1]), 14);
        QCOMPARE(int(c.codes[17]), 1);
    }

    void q5_0FifthBitOrder()
    {
        Bytes f;
        f.header(1, 0);
        f.tensor("q", {32}, kTypeQ5_0, 0);
        f.pad(32);
        // d = 1; qh = bits 0, 17 and 31 set = 0x80020001, stored little-endian as 01 00 02 80; byte j = j | j << 4.
        f.u16(0x3C00).raw({0x01, 0x00, 0x02, 0x80});
        for (int j = 0; j < 16; ++j)
            f.u8(static_cast<uint8_t>(j | (j << 4)));
        const GgufFile g(write(f.b));
        QCOMPARE(g.tensors()[0].numBytes, uint64_t(22));
        const auto w = g.decodeFloats(g.tensors()[0]);
        // w = d * (q - 16), q = nibble + 16 * bit
        QCOMPARE(w[0], 0.0f);     // 0 + 16 (bit 0)
        QCOMPARE(w[1], -15.0f);   // 1, bit 1 clear
        QCOMPARE(w[15], -1.0f);   // 15
        QCOMPARE(w[16], -16.0f);  // high nibble of byte 0 = 0, bit 16 clear
        QCOMPARE(w[17], 1.0f);    // 1 + 16 (bit 17)
        QCOMPARE(w[30], -2.0f);   // 14, bit 30 clear
        QCOMPARE(w[31], 15.0f);   // 15 + 16 (bit 31)
        const GgufBlockCodes c = g.decodeBlocks(g.tensors()[0]);
        QCOMPARE(c.codeOffset, 16);
        QCOMPARE(c.codeMax, 31);
        QCOMPARE(int(c.codes[0]), 16);
        QCOMPARE(int(c.codes[17]), 17);
        QCOMPARE(int(c.codes[31]), 31);
    }

    void q5_1FifthBitAndMin()
    {
        Bytes f;
        f.header(1, 0);
        f.tensor("q", {32}, kTypeQ5_1, 0);
        f.pad(32);
        // d = 0x3800 = 0.5, m = 0x4000 = 2; qh = 0x0000FFFF (weights 0..15 get 16); byte j = j | 15 << 4.
        f.u16(0x3800).u16(0x4000).raw({0xFF, 0xFF, 0x00, 0x00});
        for (int j = 0; j < 16; ++j)
            f.u8(static_cast<uint8_t>(j | 0xF0));
        const GgufFile g(write(f.b));
        QCOMPARE(g.tensors()[0].numBytes, uint64_t(24));
        const auto w = g.decodeFloats(g.tensors()[0]);
        // w = d * q + m
        QCOMPARE(w[0], 10.0f);   // 0.5 * 16 + 2
        QCOMPARE(w[5], 12.5f);   // 0.5 * 21 + 2
        QCOMPARE(w[15], 17.5f);  // 0.5 * 31 + 2
        QCOMPARE(w[16], 9.5f);   // 0.5 * 15 + 2
        QCOMPARE(w[31], 9.5f);
        const GgufBlockCodes c = g.decodeBlocks(g.tensors()[0]);
        QVERIFY(c.hasMin);
        QCOMPARE(c.mins, (std::vector<float>{2.0f}));
        QCOMPARE(int(c.codes[15]), 31);
        QCOMPARE(int(c.codes[20]), 15);
    }

    void q8_0Signed()
    {
        Bytes f;
        f.header(1, 0);
        f.tensor("q", {32, 1}, kTypeQ8_0, 0);
        f.pad(32);
        // d = 0x3000 = 2^-3 = 0.125; byte j = (8j - 128) as a two's complement byte = 8j + 128 mod 256.
        f.u16(0x3000);
        for (int j = 0; j < 32; ++j)
            f.u8(static_cast<uint8_t>((8 * j + 128) % 256));
        const GgufFile g(write(f.b));
        QCOMPARE(g.tensors()[0].numBytes, uint64_t(34));
        QCOMPARE(g.tensors()[0].shape(), (std::vector<int64_t>{1, 32}));
        const auto w = g.decodeFloats(g.tensors()[0]);
        // w = 0.125 * (8j - 128) = j - 16
        QCOMPARE(w[0], -16.0f);
        QCOMPARE(w[16], 0.0f);
        QCOMPARE(w[31], 15.0f);
        const GgufBlockCodes c = g.decodeBlocks(g.tensors()[0]);
        QCOMPARE(int(c.codes[0]), -128);
        QCOMPARE(int(c.codes[31]), 120);
        QCOMPARE(c.codeMin, -128);
        QCOMPARE(c.codeMax, 127);
    }

    /// One super-block of each k-quant type, zero but for the bytes set below, and a few of its weights worked out
    /// by hand from the layout (sub-block j, code q, scale sc, min m; w = (d * sc) * (q - offset) - dmin * m).
    void kQuantsByHand_data()
    {
        QTest::addColumn<uint32_t>("type");
        QTest::addColumn<int>("bytes");
        QTest::addColumn<ByteValues>("set");
        QTest::addColumn<WeightValues>("weights");
        // Q2_K {scales[16] (sc low nibble, m high); qs[64]; d at 80; dmin at 82}; d = 0.5, dmin = 3.
        // Weight 77 = 64 + 13: 2-bit field 77 / 32 % 4 = 2 of qs[13] (byte 29) = 3; sub-block 4: byte 4 = 0x69.
        // Weight 141 = 128 + 13: field 0 of qs[32 + 13] (byte 61) = 1; sub-block 8: byte 8 = 0xF2 (sc 2, m 15).
        QTest::newRow("Q2_K") << kTypeQ2_K << 84
                              << ByteValues{{80, 0x00}, {81, 0x38}, {82, 0x00}, {83, 0x42},
                                                                      {29, 0x30}, {4, 0x69}, {61, 0x01}, {8, 0xF2}}
                              << WeightValues{{77, 0.5f * 9 * 3 - 3 * 6},   // -4.5
                                                                    {141, 0.5f * 2 * 1 - 3 * 15},  // -44
                                                                    {76, 0.5f * 9 * 0 - 3 * 6},    // -18
                                                                    {0, 0.0f}};
        // Q3_K {hmask[32]; qs[64] at 32; scales[12] at 96; d at 108}; d = 2. A zero scale field stores sc = -32.
        // Weight 227 = 128 + 96 + 3: low bits in field 3 of qs[35] (byte 67) = 2, third bit in hmask[3] bit 7;
        // code 6. Sub-block 14, sc = -29, stored 3: low nibble in the high half of scales[6] (byte 102) = 0x30.
        // Weight 208 = 128 + 64 + 16: field 2 of qs[48] (byte 80) = 3, hmask[16] (byte 16) bit 6; code 7.
        // Sub-block 13, sc = 31, stored 63: 15 in the high half of scales[5] (byte 101), 3 in bits 6-7 of scales[9]
        // (byte 105).
        QTest::newRow("Q3_K") << kTypeQ3_K << 110
                              << ByteValues{{108, 0x00}, {109, 0x40}, {67, 0x80}, {3, 0x80},
                                                                      {102, 0x30}, {80, 0x30}, {16, 0x40}, {101, 0xF0},
                                                                      {105, 0xC0}}
                              << WeightValues{{227, 2.0f * -29 * (6 - 4)},  // -116
                                                                    {208, 2.0f * 31 * (7 - 4)},   // 186
                                                                    {0, 2.0f * -32 * (0 - 4)}};   // 256
        // Q4_K {d; dmin; scales[12] at 4; qs[128] at 16}; d = 1, dmin = 0.5.
        // Sub-block 5: sc = 35 = 0b10'0011, m = 17 = 0b01'0001: scales[9] (byte 13) = 0x13, top bits of sc in
        // scales[1] (byte 5) bits 6-7 = 0x80, of m in scales[5] (byte 9) = 0x40.
        // Weight 170 = 64 * 2 + 32 + 10: high nibble of qs[74] (byte 90) = 9. Weight 160: low nibble of qs[64], 0.
        // Sub-block 0: sc = scales[0] (byte 4) = 5, m = scales[4] = 0; weight 0 low nibble of qs[0] (byte 16) = 7.
        QTest::newRow("Q4_K") << kTypeQ4_K << 144
                              << ByteValues{{0, 0x00}, {1, 0x3C}, {2, 0x00}, {3, 0x38},
                                                                      {13, 0x13}, {5, 0x80}, {9, 0x40}, {90, 0x90},
                                                                      {4, 0x05}, {16, 0x07}}
                              << WeightValues{{170, 1.0f * 35 * 9 - 0.5f * 17},  // 306.5
                                                                    {160, 1.0f * 35 * 0 - 0.5f * 17},  // -8.5
                                                                    {0, 1.0f * 5 * 7},                 // 35
                                                                    {138, 0.0f}};
        // Q5_K {d; dmin; scales[12] at 4; qh[32] at 16; qs[128] at 48}; d = 1, dmin = 2.
        // Sub-block 7: sc = 60 = 0b11'1100, m = 5: scales[11] (byte 15) = 0x5C, top bits of sc in scales[3] (byte 7)
        // = 0xC0. Weight 233 = 192 + 32 + 9: high nibble of qs[105] (byte 153) = 11, fifth bit qh[9] (byte 25) bit 7;
        // code 27. Sub-block 0: m = scales[4] (byte 8) = 3; weight 9 has code 0.
        QTest::newRow("Q5_K") << kTypeQ5_K << 176
                              << ByteValues{{0, 0x00}, {1, 0x3C}, {2, 0x00}, {3, 0x40},
                                                                      {15, 0x5C}, {7, 0xC0}, {153, 0xB0}, {25, 0x80},
                                                                      {8, 0x03}}
                              << WeightValues{{233, 1.0f * 60 * 27 - 2.0f * 5},  // 1610
                                                                    {9, 0.0f - 2.0f * 3}};              // -6
        // Q6_K {ql[128]; qh[64] at 128; scales[16] at 192 (signed); d at 208}; d = 0.25.
        // Weight 200 = 128 + 64 + 8: high nibble of ql[64 + 8] (byte 72) = 13, bits 4-5 of qh[32 + 8] (byte 168)
        // = 2; code 45. Sub-block 12: byte 204 = 0xFD, sc = -3.
        // Weight 104 = 96 + 8: high nibble of ql[32 + 8] (byte 40) = 2, bits 6-7 of qh[8] (byte 136) = 1; code 18.
        // Sub-block 6: byte 198 = 127.
        QTest::newRow("Q6_K") << kTypeQ6_K << 210
                              << ByteValues{{208, 0x00}, {209, 0x34}, {72, 0xD0}, {168, 0x20},
                                                                      {204, 0xFD}, {40, 0x20}, {136, 0x40}, {198, 0x7F}}
                              << WeightValues{{200, 0.25f * -3 * (45 - 32)},    // -9.75
                                                                    {104, 0.25f * 127 * (18 - 32)},   // -444.5
                                                                    {72, -0.0f}};  // (0.25 * 0) * (0 - 32) = -0
    }
    void kQuantsByHand()
    {
        QFETCH(uint32_t, type);
        QFETCH(int, bytes);
        QFETCH(ByteValues, set);
        QFETCH(WeightValues, weights);
        std::vector<uint8_t> block(static_cast<size_t>(bytes), 0);
        for (const auto& [at, value] : set)
            block[static_cast<size_t>(at)] = value;
        Bytes f;
        f.header(1, 0);
        f.tensor("k", {256}, type, 0);
        f.pad(32).raw(block);
        const GgufFile g(write(f.b));
        QCOMPARE(g.tensors()[0].numBytes, static_cast<uint64_t>(bytes));
        const auto w = g.decodeFloats(g.tensors()[0]);
        QCOMPARE(w.size(), size_t(256));
        for (const auto& [i, expected] : weights) {
            uint32_t got = 0, want = 0;
            std::memcpy(&got, &w[static_cast<size_t>(i)], 4);
            std::memcpy(&want, &expected, 4);
            QVERIFY2(got == want, qPrintable(QStringLiteral("weight %1: %2, expected %3")
                                                 .arg(i)
                                                 .arg(w[static_cast<size_t>(i)], 0, 'g', 9)
                                                 .arg(expected, 0, 'g', 9)));
        }
    }

    void q8_KIsListedNotDecoded()
    {
        Bytes f;
        f.header(1, 0);
        f.tensor("k", {256}, kTypeQ8_K, 0);  // one super-block: f32 d + 256 codes + 16 int16 sums = 292 bytes
        f.pad(32);
        for (int i = 0; i < 292; ++i)
            f.u8(0);
        const GgufFile g(write(f.b));
        QCOMPARE(g.tensors()[0].numBytes, uint64_t(292));
        QCOMPARE(std::string(g.tensors()[0].typeInfo().name), std::string("Q8_K"));
        std::string msg;
        try {
            g.decodeFloats(g.tensors()[0]);
        } catch (const aq::Error& e) {
            msg = e.what();
        }
        QVERIFY2(contains(msg, "'k' is Q8_K") && contains(msg, "cannot decode"), msg.c_str());
    }

    void alignmentOtherThan32_data()
    {
        QTest::addColumn<uint32_t>("alignment");
        QTest::newRow("8") << 8u;
        QTest::newRow("64") << 64u;
        QTest::newRow("256") << 256u;
    }
    void alignmentOtherThan32()
    {
        QFETCH(uint32_t, alignment);
        Bytes f;
        f.header(2, 1);
        f.key("general.alignment", kU32).u32(alignment);
        f.tensor("x", {3}, kTypeF32, 0);
        f.tensor("y", {2}, kTypeF32, (12 + alignment - 1) / alignment * alignment);  // after x's 12 bytes, aligned
        const size_t headerEnd = f.b.size();
        f.pad(alignment);
        const size_t dataStart = f.b.size();
        f.f32(1).f32(2).f32(3).pad(alignment).f32(-4).f32(5);
        const GgufFile g(write(f.b));
        QCOMPARE(g.alignment(), uint64_t(alignment));
        QCOMPARE(g.dataOffset(), uint64_t(dataStart));
        QVERIFY(dataStart >= headerEnd && dataStart - headerEnd < alignment);
        QCOMPARE(g.decodeFloats(*g.findTensor("y")), (std::vector<float>{-4, 5}));
        QCOMPARE(g.decodeFloats(*g.findTensor("x")), (std::vector<float>{1, 2, 3}));
    }

    void llamaRopeRowOrder()
    {
        // One head of 6 rows: [[0,1,2],[3,4,5]] transposed is [[0,3],[1,4],[2,5]], so the file holds rows 0,3,1,4,2,5.
        QCOMPARE(llamaRopeRowSources(6, 1), (std::vector<int64_t>{0, 3, 1, 4, 2, 5}));
        // Two heads of 4 rows: each head's [[a,b],[c,d]] becomes a,c,b,d.
        QCOMPARE(llamaRopeRowSources(8, 2), (std::vector<int64_t>{0, 2, 1, 3, 4, 6, 5, 7}));
        // The permutation as converters apply it, w.reshape(heads, 2, hd/2, in).transpose(1, 2).reshape(out, in), on
        // random weights, then the inverse: hf[source[r]] = gguf[r] gives back every row.
        torch::manual_seed(3);
        const int64_t heads = 4, out = 4 * 16, in = 5;
        const auto w = torch::randn({out, in});
        const auto permuted = w.reshape({heads, 2, out / heads / 2, in}).transpose(1, 2).reshape({out, in});
        QVERIFY(!permuted.equal(w));
        const auto source = llamaRopeRowSources(out, heads);
        auto back = torch::empty_like(w);
        for (int64_t r = 0; r < out; ++r)
            back[source[static_cast<size_t>(r)]] = permuted[r];
        QVERIFY(back.equal(w));
        // Biases are permuted the same way ([out] as [out, 1]).
        const auto b = torch::arange(out, torch::kFloat32);
        const auto bp = b.reshape({heads, 2, out / heads / 2}).transpose(1, 2).reshape({out});
        for (int64_t r = 0; r < out; ++r)
            QCOMPARE(bp[r].item<float>(), static_cast<float>(source[static_cast<size_t>(r)]));
        bool refused = false;
        try {
            llamaRopeRowSources(6, 4);
        } catch (const aq::Error& e) {
            refused = e.code() == aq::ErrorCode::BadInput;
        }
        QVERIFY(refused);
    }

    void recognisesGgufPaths()
    {
        const std::string valid = write(validFile(), "model.bin");
        QVERIFY(looksLikeGguf(valid));                             // by the magic
        QVERIFY(looksLikeGguf((m_tmp / "absent.gguf").string()));  // by the name
        fs::create_directories(m_tmp / "folder.gguf");
        QVERIFY(!looksLikeGguf((m_tmp / "folder.gguf").string()));
        QVERIFY(!looksLikeGguf(write("not a model", "text.bin")));
        QVERIFY(!looksLikeGguf((m_tmp / "absent.bin").string()));
        const GgufFile g(valid);
        QCOMPARE(g.tensors().size(), size_t(3));
        QCOMPARE(g.decodeFloats(*g.findTensor("a")), (std::vector<float>{1.5f, -2.0f}));
        QCOMPARE(g.decodeFloats(*g.findTensor("c")), (std::vector<float>{1.0f, 2.0f, -3.0f, 0.0f}));
    }

    void corruptInputs_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("expected");
        auto row = [](const char* name, const Bytes& f, const char* expected) {
            QTest::newRow(name) << QByteArray(f.b.data(), static_cast<int>(f.b.size())) << QString(expected);
        };
        Bytes b;
        b.b = "GGUF\x03";
        row("truncated header", b, "fewer than the 24-byte header");
        b = {};
        b.b = "GGML";
        b.u32(3).u64(0).u64(0);
        row("wrong magic", b, "magic bytes");
        row("version 1", Bytes().header(0, 0, 1), "version 1");
        row("version 4", Bytes().header(0, 0, 4), "GGUF version 4");
        row("big-endian", Bytes().header(0, 0, 0x03000000u), "big-endian");
        row("huge key/value count", Bytes().header(0, uint64_t(1) << 60), "metadata entries");
        row("huge tensor count", Bytes().header(~uint64_t(0), 0), "tensors, more than");
        {
            Bytes f;
            f.header(0, 1).u64(uint64_t(1) << 62).b += std::string(16, 'x');
            row("huge key length", f, "claims 4611686018427387904 bytes");
        }
        {
            Bytes f;
            f.header(0, 1).key("k", kArr).u32(kU32).u64(uint64_t(1) << 61).u32(1);
            row("huge array count", f, "claims 2305843009213693952 elements");
        }
        {
            Bytes f;
            f.header(0, 1).key("k", kArr).u32(kStr).u64(1000).str("x");
            row("array shorter than its count", f, "('k') claims 1000 elements");
        }
        {
            Bytes f;
            f.header(0, 1).key("k", 13).u32(0);
            row("unknown value type", f, "value type 13");
        }
        {
            Bytes f;
            f.header(0, 1).key("k", kBool).u8(2);
            row("bool of 2", f, "BOOL with byte value 2");
        }
        {
            Bytes f;
            f.header(0, 1).key("k", kArr);
            for (int i = 0; i < 20; ++i)
                f.u32(kArr).u64(1);
            f.u32(kU8).u64(1).u8(0);
            row("arrays nested too deep", f, "nests arrays deeper");
        }
        {
            Bytes f;
            f.header(0, 2).key("k", kU8).u8(1).key("k", kU8).u8(2);
            row("repeated key", f, "repeats a key");
        }
        {
            Bytes f;
            f.header(0, 1).key("", kU8).u8(1);
            row("empty key", f, "empty key");
        }
        {
            Bytes f;
            f.header(0, 1).key("general.alignment", kU32).u32(24);
            row("alignment not a power of two", f, "power of two");
        }
        {
            Bytes f;
            f.header(0, 1).key("general.alignment", kU32).u32(0);
            row("alignment 0", f, "power of two");
        }
        {
            Bytes f;
            f.header(0, 1).key("general.alignment", kStr).str("32");
            row("alignment as a string", f, "general.alignment is STRING");
        }
        {
            Bytes f;
            f.header(1, 0).tensor("t", {1, 1, 1, 1, 1}, kTypeF32, 0).pad(32).f32(0);
            row("five dimensions", f, "5 dimensions");
        }
        {
            Bytes f;
            f.header(1, 0).tensor("t", {}, kTypeF32, 0).pad(32).f32(0);
            row("no dimensions", f, "0 dimensions");
        }
        {
            Bytes f;
            f.header(1, 0).tensor("t", {4, 0}, kTypeF32, 0).pad(32).f32(0);
            row("zero dimension", f, "dimension of 0");
        }
        {
            Bytes f;
            f.header(1, 0).tensor("t", {uint64_t(1) << 32, uint64_t(1) << 32, uint64_t(1) << 32}, kTypeF32, 0);
            f.pad(32).f32(0);
            row("dimension product overflows", f, "overflows 64 bits");
        }
        {
            Bytes f;
            f.header(1, 0).tensor("t", {uint64_t(1) << 62}, kTypeF32, 0).pad(32).f32(0);
            row("byte size overflows", f, "byte size that overflows");
        }
        {
            Bytes f;
            f.header(1, 0).tensor("t", {uint64_t(1) << 40}, kTypeF32, 0).pad(32).f32(0);
            row("tensor larger than the file", f, "extends beyond the end of the file");
        }
        {
            Bytes f;
            f.header(1, 0).tensor("t", {4}, 99, 0).pad(32).f32(0);
            row("unknown ggml type", f, "an unknown ggml type (code 99)");
        }
        {
            Bytes f;
            f.header(1, 0).tensor("t", {256}, 16, 0).pad(32).f32(0);
            row("type without a layout here", f, "IQ2_XXS (code 16)");
        }
        {
            Bytes f;
            f.header(1, 0).tensor("t", {48}, kTypeQ4_0, 0).pad(32);
            for (int i = 0; i < 36; ++i)
                f.u8(0);
            row("partial block", f, "not a multiple of its block of 32");
        }
        {
            Bytes f;
            f.header(1, 0).tensor("t", {2}, kTypeF32, 4).pad(32).f32(0).f32(0).f32(0);
            row("unaligned offset", f, "not a multiple of the alignment 32");
        }
        {
            Bytes f;
            f.header(1, 0).tensor("t", {2}, kTypeF32, 64).pad(32).f32(0).f32(0);
            row("offset past the end", f, "extends beyond the end");
        }
        {
            Bytes f;
            f.header(1, 0).tensor("t", {2}, kTypeF32, ~uint64_t(31)).pad(32).f32(0).f32(0);
            row("offset near 2^64", f, "extends beyond the end");
        }
        {
            Bytes f;
            f.header(2, 0).tensor("a", {16}, kTypeF32, 0).tensor("b", {4}, kTypeF32, 32).pad(32);
            for (int i = 0; i < 16; ++i)
                f.f32(0);
            row("overlapping tensors", f, "overlap");
        }
        {
            Bytes f;
            f.header(2, 0).tensor("a", {2}, kTypeF32, 0).tensor("a", {2}, kTypeF32, 32).pad(32);
            for (int i = 0; i < 16; ++i)
                f.f32(0);
            row("repeated tensor name", f, "repeats a tensor name");
        }
        {
            Bytes f;
            f.header(1, 0).tensor("t", {8}, kTypeF32, 0).pad(32).f32(1).f32(2);
            row("truncated data", f, "extends beyond the end of the file");
        }
        {
            Bytes f;
            f.header(1, 0).tensor("t", {8}, kTypeF32, 0);
            row("data section missing", f, "truncated");
        }
    }
    void corruptInputs()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, expected);
        const std::string msg = openError(std::string(bytes.constData(), static_cast<size_t>(bytes.size())));
        QVERIFY2(contains(msg, expected.toStdString()), msg.c_str());
    }

    void everyTruncationIsRefused()
    {
        // Every prefix of a valid file is refused with BadInput (the data section is the last thing in the file).
        const std::string full = validFile();
        {
            const GgufFile ok(write(full));
        }
        for (size_t n = 0; n < full.size(); ++n) {
            const std::string msg = openError(full.substr(0, n));
            if (contains(msg, "NO ERROR") || contains(msg, "WRONG CODE") || contains(msg, "FOREIGN") ||
                contains(msg, "NO PATH"))
                QFAIL(qPrintable(QString("prefix of %1 bytes: %2").arg(n).arg(QString::fromStdString(msg))));
        }
    }

    void corruptedBytesNeverCrash()
    {
        // Each byte of the header, metadata and directory set to 0xFF, 0x00 and 0x80 in turn: the file either opens
        // (and then decodes) or is refused with BadInput; nothing else may happen.
        const std::string full = validFile();
        const GgufFile reference(write(full));
        int opened = 0, refused = 0;
        for (size_t i = 0; i < reference.dataOffset(); ++i)
            for (uint8_t v : {uint8_t(0xFF), uint8_t(0x00), uint8_t(0x80)}) {
                std::string bad = full;
                if (static_cast<uint8_t>(bad[i]) == v)
                    continue;
                bad[i] = static_cast<char>(v);
                const std::string path = write(bad, "flip.gguf");
                try {
                    const GgufFile g(path);
                    for (const auto& t : g.tensors())
                        if (t.typeInfo().decodable)
                            g.decodeFloats(t);
                    ++opened;
                } catch (const aq::Error& e) {
                    if (e.code() != aq::ErrorCode::BadInput)
                        QFAIL(qPrintable(QString("byte %1 = %2: %3").arg(i).arg(v).arg(e.what())));
                    ++refused;
                } catch (const std::exception& e) {
                    QFAIL(qPrintable(QString("byte %1 = %2: foreign exception %3").arg(i).arg(v).arg(e.what())));
                }
            }
        qInfo("%d corrupted copies opened, %d refused", opened, refused);
        QVERIFY(refused > 0);
    }

    void nonRegularFilesAreRefused()
    {
        auto message = [](const std::string& path) {
            try {
                GgufFile g(path);
            } catch (const aq::Error& e) {
                return e.code() == aq::ErrorCode::BadInput ? std::string(e.what()) : std::string("WRONG CODE");
            }
            return std::string("NO ERROR");
        };
        std::string msg = message(m_tmp.string());
        QVERIFY2(contains(msg, "not a regular file (a folder)"), msg.c_str());
        const std::string fifo = (m_tmp / "pipe.gguf").string();
        QCOMPARE(::mkfifo(fifo.c_str(), 0600), 0);
        msg = message(fifo);  // must not block waiting for a writer
        QVERIFY2(contains(msg, "not a regular file (a pipe)"), msg.c_str());
        msg = message("/dev/null");
        QVERIFY2(contains(msg, "not a regular file"), msg.c_str());
        msg = message((m_tmp / "missing.gguf").string());
        QVERIFY2(contains(msg, "cannot open the GGUF file") && contains(msg, "missing.gguf"), msg.c_str());
    }

    void verifyPassesOnDemoExports_data()
    {
        QTest::addColumn<QString>("preset");
        QTest::addColumn<int>("method");
        QTest::addColumn<bool>("symmetric");
        QTest::addColumn<QString>("linearType");
        QTest::addColumn<int>("tensors");
        // 4 blocks: 7 linears and 2 norms each, plus the embedding and the final norm (the output layer is tied);
        // learned shifts add 7 biases per block.
        QTest::newRow("rtn w4 asymmetric: Q4_1") << "w4a16g128" << int(aq::Method::Rtn) << false << "Q4_1" << 38;
        QTest::newRow("affinequant w4: Q4_1 and biases")
            << "w4a16g128" << int(aq::Method::AffineQuant) << false << "Q4_1" << 62;  // shifts: q/k/v/o/gate/up biases
        QTest::newRow("rtn w4 symmetric: Q4_0") << "w4a16g128" << int(aq::Method::Rtn) << true << "Q4_0" << 38;
        QTest::newRow("rtn w3: F16") << "w3a16g128" << int(aq::Method::Rtn) << false << "F16" << 38;
    }
    void verifyPassesOnDemoExports()
    {
        QFETCH(QString, preset);
        QFETCH(int, method);
        QFETCH(bool, symmetric);
        QFETCH(QString, linearType);
        QFETCH(int, tensors);
        const auto m = static_cast<aq::Method>(method);
        const std::string key =
            preset.toStdString() + (m == aq::Method::Rtn ? "-rtn" : "-aq") + (symmetric ? "-sym" : "");
        const auto [run, gguf] = runAndExport(key, preset.toStdString(), m, symmetric);
        const aq::VerifyResult r = verify(run, gguf);
        QVERIFY2(r.ok, joined(r.problems).c_str());
        QCOMPARE(r.format, std::string("gguf"));
        QCOMPARE(static_cast<int>(r.tensors.size()), tensors);
        int linears = 0;
        for (const auto& t : r.tensors) {
            QVERIFY2(t.ok, t.name.c_str());
            if (t.quantizedLinear) {
                ++linears;
                QVERIFY2(contains(t.source, linearType.toStdString() + " blk."), t.source.c_str());
            }
        }
        QCOMPARE(linears, 28);
        // Float16 block factors (or float16 values) move the weights a little, never more than a few 1e-4 here.
        QVERIFY(r.maxWeightDiff > 0 && r.maxWeightDiff < 3e-3);
        QVERIFY(contains(r.worstLayer, "model.layers."));
        QCOMPARE(r.windows, int64_t(2));
        QVERIFY2(r.top1Agreement >= 0.99, std::to_string(r.top1Agreement).c_str());
        QVERIFY2(r.meanKl < 1e-4, std::to_string(r.meanKl).c_str());
        QVERIFY(r.runPerplexity > 1 && std::abs(r.exportPerplexity / r.runPerplexity - 1) < 1e-3);
        qInfo("%s: max weight difference %.3g (%s), max logit difference %.3g, KL %.3g, top-1 %.4f, perplexity %.4f / "
              "%.4f",
              key.c_str(), r.maxWeightDiff, r.worstLayer.c_str(), r.maxLogitDiff, r.meanKl, r.top1Agreement,
              r.runPerplexity, r.exportPerplexity);
    }

    void damagedCopiesAreReported_data()
    {
        QTest::addColumn<QString>("damage");
        QTest::addColumn<QString>("expected");
        // Weight j of a Q4_1 block is the low nibble of byte 4 + j; block 5 of row 0 (256 inputs: 8 blocks per row)
        // covers columns 160..191, and row 0 of attn_q is row 0 in Hugging Face order too.
        QTest::newRow("one flipped nibble") << "nibble"
                                            << "blk.1.attn_q.weight (Q4_1, the run's model.layers.1.self_attn.q_proj): "
                                               "1 codes differ from the run's grid (first: row 0, column 160";
        QTest::newRow("a block scale two float16 steps off") << "scale"
                                                             << "block scales are not the run's scale";
        QTest::newRow("a token of the vocabulary") << "token"
                                                   << "tokens differ from the run's sentencepiece pieces";
        QTest::newRow("block_count") << "blocks"
                                     << "llama.block_count is 5, the run has 4";
    }
    void damagedCopiesAreReported()
    {
        QFETCH(QString, damage);
        QFETCH(QString, expected);
        const auto [run, gguf] = runAndExport("w4a16g128-rtn", "w4a16g128", aq::Method::Rtn, false);
        std::string bytes = readAll(gguf);
        const GgufFile g(gguf);
        if (damage == "nibble") {
            const GgufTensorInfo* t = g.findTensor("blk.1.attn_q.weight");
            QVERIFY(t && t->typeCode == kTypeQ4_1 && t->ne[0] == 256);
            bytes[g.dataOffset() + t->offset + 5 * 20 + 4] ^= 0x01;
        } else if (damage == "scale") {
            const GgufTensorInfo* t = g.findTensor("blk.2.ffn_down.weight");
            QVERIFY(t && t->typeCode == kTypeQ4_1);
            bytes[g.dataOffset() + t->offset + 3 * 20] ^= 0x02;  // low byte of block 3's d: two units in the last place
        } else if (damage == "token") {
            const auto tokens = *g.getStringArray("tokenizer.ggml.tokens");
            size_t i = 300;
            while (tokens[i].size() < 3 ||
                   !std::all_of(tokens[i].begin(), tokens[i].end(), [](char c) { return c >= 'a' && c <= 'z'; }))
                ++i;
            Bytes encoded;
            encoded.str(tokens[i]);
            const size_t at = bytes.find(encoded.b);
            QVERIFY(at != std::string::npos);
            bytes[at + encoded.b.size() - 1] = tokens[i].back() == 'q' ? 'z' : 'q';
            expected += QString(" (first: token %1").arg(i);
        } else {
            Bytes key;
            key.key("llama.block_count", kU32);
            const size_t at = bytes.find(key.b);
            QVERIFY(at != std::string::npos);
            bytes[at + key.b.size()] = 5;
        }
        const std::string damaged = write(bytes, "damaged.gguf");
        const aq::VerifyResult r = verify(run, damaged);
        QVERIFY(!r.ok);
        QVERIFY2(!problemWith(r, expected.toStdString()).empty(), joined(r.problems).c_str());
        if (damage == "nibble") {
            // Only that tensor is out of tolerance; the rest of the file still checks out.
            int bad = 0;
            for (const auto& t : r.tensors)
                bad += t.ok ? 0 : 1;
            QCOMPARE(bad, 1);
        }
    }

    void commandLine()
    {
        const auto [run, gguf] = runAndExport("w4a16g128-rtn", "w4a16g128", aq::Method::Rtn, false);
        auto cli = [](const QStringList& args) {
            QProcess p;
            p.start(QStringLiteral(AQ_CLI_PATH), args);
            p.waitForFinished(120000);
            return std::make_pair(p.exitCode(), p.readAllStandardOutput() + p.readAllStandardError());
        };
        const QStringList common = {"--run", QString::fromStdString(run), "--seqlen", "128", "--max-windows", "1"};
        auto [code, text] = cli(QStringList{"verify", "--export", QString::fromStdString(gguf)} + common);
        QVERIFY2(code == 0, text.constData());
        QVERIFY(text.contains("(gguf)") && text.contains("verification passed"));
        std::string bytes = readAll(gguf);
        {
            const GgufFile g(gguf);
            const GgufTensorInfo* t = g.findTensor("blk.0.ffn_up.weight");
            QVERIFY(t);
            bytes[g.dataOffset() + t->offset + 4] ^= 0x10;  // a high nibble: weight 16 of the first block
        }
        const std::string damaged = write(bytes, "damaged-cli.gguf");
        std::tie(code, text) = cli(QStringList{"verify", "--export", QString::fromStdString(damaged)} + common);
        QCOMPARE(code, 2);
        QVERIFY2(text.contains("PROBLEM: blk.0.ffn_up.weight") && text.contains("row 0, column 16"), text.constData());
        QVERIFY(text.contains("verification FAILED"));
        std::tie(code, text) =
            cli(QStringList{"verify", "--export", QString::fromStdString((m_tmp / "none.gguf").string())} + common);
        QCOMPARE(code, 2);
        QVERIFY2(text.contains("cannot open the GGUF file"), text.constData());
    }
};

QTEST_APPLESS_MAIN(TestGguf)
#include "tst_gguf.moc"
