// Reading GGUF files: bounds-checked parsing of the header, metadata and tensor directory, and block decoding.
#include "gguf_reader.h"

#include "aq/error.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>

namespace aq::detail {

// ---- Types ----

namespace {

constexpr uint32_t kMaxDims = 4;                              // ggml tensors have at most four dimensions
constexpr int kMaxArrayDepth = 8;                             // arrays of arrays nest at most this deep
constexpr uint64_t kMetadataBudgetBytes = uint64_t(1) << 30;  // decoded metadata (widened arrays) stays below this
constexpr uint64_t kMinKeyValueBytes = 8 + 4 + 1;             // empty key, type, one byte of value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;   // empty name, n_dims, one dimension, type, offset

/// Decodes `numBlocks` blocks to floats.
using FloatDecoder = void (*)(const uint8_t* src, uint64_t numBlocks, float* out);
/// Decodes one 32-weight block into its codes, scale d and min m (0 for types without a min).
using BlockDecoder = void (*)(const uint8_t* block, int8_t* codes, float& d, float& m);
/// Decodes one 256-weight k-quant super-block into its 256 codes, the integer scale and min of each sub-block (mins
/// left alone for types without them) and the factors d and dmin (0 without mins).
using SuperBlockDecoder = void (*)(const uint8_t* block, uint8_t* codes, int8_t* scales, uint8_t* mins, float& d,
                                   float& dmin);

uint16_t le16(const uint8_t* p)
{
    return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
uint32_t le32(const uint8_t* p)
{
    return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
           (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t le64(const uint8_t* p)
{
    return static_cast<uint64_t>(le32(p)) | (static_cast<uint64_t>(le32(p + 4)) << 32);
}

float halfAt(const uint8_t* p)
{
    return halfToFloat(le16(p));
}

void f32ToFloat(const uint8_t* src, uint64_t n, float* out)
{
    for (uint64_t i = 0; i < n; ++i) {
        const uint32_t bits = le32(src + 4 * i);
        std::memcpy(out + i, &bits, 4);
    }
}
void f16ToFloat(const uint8_t* src, uint64_t n, float* out)
{
    for (uint64_t i = 0; i < n; ++i)
        out[i] = halfAt(src + 2 * i);
}
void bf16ToFloat(const uint8_t* src, uint64_t n, float* out)
{
    for (uint64_t i = 0; i < n; ++i)
        out[i] = bfloat16ToFloat(le16(src + 2 * i));
}

/// 16 bytes of nibbles: weight j (0..15) is the low nibble of byte j, weight j + 16 the high nibble.
void nibbles(const uint8_t* qs, int8_t* codes)
{
    for (int j = 0; j < 16; ++j) {
        codes[j] = static_cast<int8_t>(qs[j] % 16);
        codes[j + 16] = static_cast<int8_t>(qs[j] / 16);
    }
}
/// Adds the fifth bit: bit j of the little-endian word qh belongs to weight j.
void fifthBits(uint32_t qh, int8_t* codes)
{
    for (int j = 0; j < 32; ++j)
        codes[j] = static_cast<int8_t>(codes[j] + 16 * ((qh >> j) & 1u));
}

// Block layouts (32 weights each):
//   Q4_0 {f16 d; u8 qs[16]}            Q4_1 {f16 d; f16 m; u8 qs[16]}
//   Q5_0 {f16 d; u8 qh[4]; u8 qs[16]}  Q5_1 {f16 d; f16 m; u8 qh[4]; u8 qs[16]}
//   Q8_0 {f16 d; i8 qs[32]}
void q4_0Block(const uint8_t* b, int8_t* codes, float& d, float& m)
{
    d = halfAt(b);
    m = 0;
    nibbles(b + 2, codes);
}
void q4_1Block(const uint8_t* b, int8_t* codes, float& d, float& m)
{
    d = halfAt(b);
    m = halfAt(b + 2);
    nibbles(b + 4, codes);
}
void q5_0Block(const uint8_t* b, int8_t* codes, float& d, float& m)
{
    d = halfAt(b);
    m = 0;
    nibbles(b + 6, codes);
    fifthBits(le32(b + 2), codes);
}
void q5_1Block(const uint8_t* b, int8_t* codes, float& d, float& m)
{
    d = halfAt(b);
    m = halfAt(b + 2);
    nibbles(b + 8, codes);
    fifthBits(le32(b + 4), codes);
}
void q8_0Block(const uint8_t* b, int8_t* codes, float& d, float& m)
{
    d = halfAt(b);
    m = 0;
    for (int j = 0; j < 32; ++j)
        codes[j] = static_cast<int8_t>(static_cast<int>(b[2 + j]) - (b[2 + j] >= 128 ? 256 : 0));
}

// K-quant super-blocks (256 weights). Codes are spread over bit fields that each cover the super-block in a fixed
// pattern; below, weight i (0..255) is located in each field it has bits in.
//   Q2_K {u8 scales[16]; u8 qs[64]; f16 d; f16 dmin}     sub-blocks of 16, scale and min 4 bits each
//   Q3_K {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d}  sub-blocks of 16, scale 6 bits stored with +32
//   Q4_K {f16 d; f16 dmin; u8 scales[12]; u8 qs[128]}     sub-blocks of 32, scale and min 6 bits each
//   Q5_K {f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}
//   Q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}    sub-blocks of 16, scale a signed byte

/// The two bits of weight i in the 64 bytes `qs` of Q2_K and Q3_K: the 2-bit field (i / 32) % 4 of byte
/// 32 * (i / 128) + i % 32.
unsigned twoBitCode(const uint8_t* qs, int i)
{
    return (qs[32 * (i / 128) + i % 32] >> (2 * ((i / 32) % 4))) & 3u;
}
/// One bit of weight i in a 32-byte bit mask (Q3_K hmask, Q5_K qh): bit i / 32 of byte i % 32.
unsigned maskBit(const uint8_t* mask, int i)
{
    return (mask[i % 32] >> (i / 32)) & 1u;
}
/// The four bits of weight i in the 128 bytes `qs` of Q4_K and Q5_K: byte 32 * (i / 64) + i % 32, low nibble for
/// the first 32 weights of each 64, high nibble for the second 32.
unsigned nibbleCode(const uint8_t* qs, int i)
{
    return (qs[32 * (i / 64) + i % 32] >> (4 * ((i / 32) % 2))) & 15u;
}
/// Scale and min of sub-block j (0..7) from the 12 bytes `s` of Q4_K and Q5_K. Sub-blocks 0..3 use the low six bits
/// of s[j] (scale) and s[j + 4] (min); sub-blocks 4..7 take their low four bits from s[j + 4] (scale low nibble, min
/// high nibble) and their top two bits from the spare bits 6 and 7 of s[j - 4] (scale) and s[j] (min).
void sixBitScaleMin(const uint8_t* s, int j, int8_t& scale, uint8_t& min)
{
    unsigned sc = 0, m = 0;
    if (j < 4) {
        sc = s[j] & 63u;
        m = s[j + 4] & 63u;
    } else {
        sc = (s[j + 4] & 15u) + 16 * (s[j - 4] >> 6);
        m = (s[j + 4] >> 4) + 16 * (s[j] >> 6);
    }
    scale = static_cast<int8_t>(sc);
    min = static_cast<uint8_t>(m);
}

void q2_KSuper(const uint8_t* b, uint8_t* codes, int8_t* scales, uint8_t* mins, float& d, float& dmin)
{
    for (int j = 0; j < 16; ++j) {
        scales[j] = static_cast<int8_t>(b[j] & 15u);
        mins[j] = static_cast<uint8_t>(b[j] >> 4);
    }
    for (int i = 0; i < 256; ++i)
        codes[i] = static_cast<uint8_t>(twoBitCode(b + 16, i));
    d = halfAt(b + 80);
    dmin = halfAt(b + 82);
}
void q3_KSuper(const uint8_t* b, uint8_t* codes, int8_t* scales, uint8_t*, float& d, float& dmin)
{
    const uint8_t* hmask = b;
    const uint8_t* qs = b + 32;
    const uint8_t* s = b + 96;
    for (int i = 0; i < 256; ++i)
        codes[i] = static_cast<uint8_t>(twoBitCode(qs, i) + 4 * maskBit(hmask, i));
    // Scale j: low four bits in nibble j / 8 of s[j % 8], top two bits in the 2-bit field j / 4 of s[8 + j % 4].
    for (int j = 0; j < 16; ++j) {
        const unsigned low = (s[j % 8] >> (4 * (j / 8))) & 15u;
        const unsigned high = (s[8 + j % 4] >> (2 * (j / 4))) & 3u;
        scales[j] = static_cast<int8_t>(static_cast<int>(low + 16 * high) - 32);
    }
    d = halfAt(b + 108);
    dmin = 0;
}
void q4_KSuper(const uint8_t* b, uint8_t* codes, int8_t* scales, uint8_t* mins, float& d, float& dmin)
{
    d = halfAt(b);
    dmin = halfAt(b + 2);
    for (int j = 0; j < 8; ++j)
        sixBitScaleMin(b + 4, j, scales[j], mins[j]);
    for (int i = 0; i < 256; ++i)
        codes[i] = static_cast<uint8_t>(nibbleCode(b + 16, i));
}
void q5_KSuper(const uint8_t* b, uint8_t* codes, int8_t* scales, uint8_t* mins, float& d, float& dmin)
{
    d = halfAt(b);
    dmin = halfAt(b + 2);
    for (int j = 0; j < 8; ++j)
        sixBitScaleMin(b + 4, j, scales[j], mins[j]);
    for (int i = 0; i < 256; ++i)
        codes[i] = static_cast<uint8_t>(nibbleCode(b + 48, i) + 16 * maskBit(b + 16, i));
}
void q6_KSuper(const uint8_t* b, uint8_t* codes, int8_t* scales, uint8_t*, float& d, float& dmin)
{
    const uint8_t* ql = b;
    const uint8_t* qh = b + 128;
    // Weight i = 128 h + 32 s + k: low four bits in nibble s / 2 of ql[64 h + 32 (s % 2) + k], top two bits in the
    // 2-bit field s of qh[32 h + k].
    for (int i = 0; i < 256; ++i) {
        const int h = i / 128, s = (i / 32) % 4, k = i % 32;
        const unsigned low = (ql[64 * h + 32 * (s % 2) + k] >> (4 * (s / 2))) & 15u;
        const unsigned high = (qh[32 * h + k] >> (2 * s)) & 3u;
        codes[i] = static_cast<uint8_t>(low + 16 * high);
    }
    for (int j = 0; j < 16; ++j)
        scales[j] = static_cast<int8_t>(static_cast<int>(b[192 + j]) - (b[192 + j] >= 128 ? 256 : 0));
    d = halfAt(b + 208);
    dmin = 0;
}

struct TypeEntry {
    GgmlTypeInfo info;
    FloatDecoder toFloat = nullptr;  ///< element types
    BlockDecoder toCodes = nullptr;  ///< 32-weight block types
    int codeOffset = 0;
    int codeMin = 0, codeMax = 0;
    bool hasMin = false;
    SuperBlockDecoder toSuper = nullptr;  ///< k-quants
    int subBlockElements = 0;             ///< k-quants
    int scaleMin = 0, scaleMax = 0;       ///< k-quants
};

const TypeEntry kTypes[] = {
    {{GgmlType::F32, "F32", 1, 4, true, false, false}, f32ToFloat},
    {{GgmlType::F16, "F16", 1, 2, true, false, false}, f16ToFloat},
    {{GgmlType::BF16, "BF16", 1, 2, true, false, false}, bf16ToFloat},
    {{GgmlType::Q4_0, "Q4_0", 32, 18, true, true, false}, nullptr, q4_0Block, 8, 0, 15, false},
    {{GgmlType::Q4_1, "Q4_1", 32, 20, true, true, false}, nullptr, q4_1Block, 0, 0, 15, true},
    {{GgmlType::Q5_0, "Q5_0", 32, 22, true, true, false}, nullptr, q5_0Block, 16, 0, 31, false},
    {{GgmlType::Q5_1, "Q5_1", 32, 24, true, true, false}, nullptr, q5_1Block, 0, 0, 31, true},
    {{GgmlType::Q8_0, "Q8_0", 32, 34, true, true, false}, nullptr, q8_0Block, 0, -128, 127, false},
    {{GgmlType::Q8_1, "Q8_1", 32, 36, false, false, false}},
    {{GgmlType::Q2_K, "Q2_K", 256, 84, true, false, true}, nullptr, nullptr, 0, 0, 3, true, q2_KSuper, 16, 0, 15},
    {{GgmlType::Q3_K, "Q3_K", 256, 110, true, false, true}, nullptr, nullptr, 4, 0, 7, false, q3_KSuper, 16, -32, 31},
    {{GgmlType::Q4_K, "Q4_K", 256, 144, true, false, true}, nullptr, nullptr, 0, 0, 15, true, q4_KSuper, 32, 0, 63},
    {{GgmlType::Q5_K, "Q5_K", 256, 176, true, false, true}, nullptr, nullptr, 0, 0, 31, true, q5_KSuper, 32, 0, 63},
    {{GgmlType::Q6_K, "Q6_K", 256, 210, true, false, true}, nullptr, nullptr, 32, 0, 63, false, q6_KSuper, 16, -128,
     127},
    {{GgmlType::Q8_K, "Q8_K", 256, 292, false, false, false}},
    {{GgmlType::I8, "I8", 1, 1, false, false, false}},
    {{GgmlType::I16, "I16", 1, 2, false, false, false}},
    {{GgmlType::I32, "I32", 1, 4, false, false, false}},
    {{GgmlType::I64, "I64", 1, 8, false, false, false}},
    {{GgmlType::F64, "F64", 1, 8, false, false, false}},
};

const TypeEntry* typeEntry(uint32_t code)
{
    for (const auto& t : kTypes)
        if (static_cast<uint32_t>(t.info.type) == code)
            return &t;
    return nullptr;
}

std::string decodableNames()
{
    std::string r;
    for (const auto& t : kTypes)
        if (t.info.decodable)
            r += (r.empty() ? "" : ", ") + std::string(t.info.name);
    return r;
}

}  // namespace

std::string ggufValueTypeName(GgufValueType type)
{
    static const char* const names[] = {"UINT8", "INT8",   "UINT16", "INT16",  "UINT32", "INT32",  "FLOAT32",
                                        "BOOL",  "STRING", "ARRAY",  "UINT64", "INT64",  "FLOAT64"};
    const auto code = static_cast<uint32_t>(type);
    return code < std::size(names) ? names[code] : "type " + std::to_string(code);
}

const GgmlTypeInfo* ggmlTypeInfo(uint32_t code)
{
    const TypeEntry* t = typeEntry(code);
    return t ? &t->info : nullptr;
}

std::string ggmlTypeName(uint32_t code)
{
    if (const GgmlTypeInfo* t = ggmlTypeInfo(code))
        return t->name;
    // Types of the format whose layouts this reader does not carry.
    static const std::map<uint32_t, const char*> others = {{4, "Q4_2 (removed from the format)"},
                                                           {5, "Q4_3 (removed from the format)"},
                                                           {16, "IQ2_XXS"},
                                                           {17, "IQ2_XS"},
                                                           {18, "IQ3_XXS"},
                                                           {19, "IQ1_S"},
                                                           {20, "IQ4_NL"},
                                                           {21, "IQ3_S"},
                                                           {22, "IQ2_S"},
                                                           {23, "IQ4_XS"},
                                                           {29, "IQ1_M"},
                                                           {34, "TQ1_0"},
                                                           {35, "TQ2_0"},
                                                           {39, "MXFP4"}};
    const auto it = others.find(code);
    return it != others.end() ? it->second : "type " + std::to_string(code);
}

float halfToFloat(uint16_t h)
{
    const uint32_t sign = static_cast<uint32_t>(h >> 15) << 31;
    const uint32_t exponent = (h >> 10) & 0x1Fu;
    const uint32_t mantissa = h & 0x3FFu;
    uint32_t bits;
    if (exponent == 0) {
        // Zero or subnormal: mantissa * 2^-24.
        const float v = std::ldexp(static_cast<float>(mantissa), -24);
        return sign ? -v : v;
    }
    if (exponent == 31)
        bits = sign | 0x7F800000u | (mantissa << 13);  // infinity or NaN (payload kept)
    else
        bits = sign | ((exponent - 15 + 127) << 23) | (mantissa << 13);
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

float bfloat16ToFloat(uint16_t b)
{
    const uint32_t bits = static_cast<uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// ---- Values ----

uint64_t GgufValue::arraySize() const
{
    if (!isArray())
        return 0;
    return std::visit(
        [](const auto& v) -> uint64_t {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::vector<uint64_t>> || std::is_same_v<T, std::vector<int64_t>> ||
                          std::is_same_v<T, std::vector<double>> || std::is_same_v<T, std::vector<std::string>> ||
                          std::is_same_v<T, std::vector<GgufValue>>)
                return v.size();
            else
                return 0;
        },
        data);
}

std::string GgufValue::describe() const
{
    if (isArray())
        return "ARRAY of " + std::to_string(arraySize()) + " " + ggufValueTypeName(elementType);
    std::string v;
    if (const auto* u = std::get_if<uint64_t>(&data))
        v = type == GgufValueType::Bool ? (*u ? "true" : "false") : std::to_string(*u);
    else if (const auto* i = std::get_if<int64_t>(&data))
        v = std::to_string(*i);
    else if (const auto* f = std::get_if<double>(&data))
        v = std::to_string(*f);
    else if (const auto* s = std::get_if<std::string>(&data))
        v = "'" + (s->size() > 40 ? s->substr(0, 40) + "..." : *s) + "'";
    return ggufValueTypeName(type) + " " + v;
}

// ---- Tensors ----

const GgmlTypeInfo& GgufTensorInfo::typeInfo() const
{
    const GgmlTypeInfo* t = ggmlTypeInfo(typeCode);
    if (!t)  // cannot happen for a tensor of an opened file (checked when parsing)
        badInput("tensor '" + name + "' has unknown ggml type " + ggmlTypeName(typeCode));
    return *t;
}

std::vector<int64_t> GgufTensorInfo::shape() const
{
    std::vector<int64_t> s;
    for (auto it = ne.rbegin(); it != ne.rend(); ++it)
        s.push_back(static_cast<int64_t>(*it));
    return s;
}

// ---- The file ----

struct GgufMapping {
    void* data = nullptr;
    uint64_t size = 0;
    ~GgufMapping()
    {
        if (data && size)
            munmap(data, size);
    }
};

namespace {

/// Sequential little-endian reads over the mapped bytes; every read is checked against the end of the file.
class Cursor {
public:
    Cursor(const uint8_t* base, uint64_t size, const std::string& path) : m_base(base), m_size(size), m_path(path) {}

    uint64_t position() const { return m_pos; }
    uint64_t remaining() const { return m_size - m_pos; }

    [[noreturn]] void fail(const std::string& what) const
    {
        badInput("'" + m_path + "' is not a valid GGUF file: " + what + " (at byte offset " + std::to_string(m_pos) +
                 " of " + std::to_string(m_size) + "); the file is truncated, corrupt or not GGUF");
    }
    const uint8_t* take(uint64_t n, const std::string& what)
    {
        if (n > remaining())
            fail(what + " needs " + std::to_string(n) + " bytes but only " + std::to_string(remaining()) + " remain");
        const uint8_t* p = m_base + m_pos;
        m_pos += n;
        return p;
    }
    uint8_t u8(const std::string& what) { return *take(1, what); }
    uint16_t u16(const std::string& what) { return le16(take(2, what)); }
    uint32_t u32(const std::string& what) { return le32(take(4, what)); }
    uint64_t u64(const std::string& what) { return le64(take(8, what)); }
    std::string string(const std::string& what)
    {
        const uint64_t len = u64(what + " (length)");
        if (len > remaining())
            fail(what + " claims " + std::to_string(len) + " bytes but only " + std::to_string(remaining()) +
                 " remain");
        const uint8_t* p = take(len, what);
        return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(len));
    }

private:
    const uint8_t* m_base;
    uint64_t m_size;
    uint64_t m_pos = 0;
    const std::string& m_path;
};

/// Bytes one value of a scalar type occupies in the file; 0 for STRING and ARRAY (variable).
uint64_t scalarBytes(GgufValueType t)
{
    switch (t) {
    case GgufValueType::UInt8:
    case GgufValueType::Int8:
    case GgufValueType::Bool:
        return 1;
    case GgufValueType::UInt16:
    case GgufValueType::Int16:
        return 2;
    case GgufValueType::UInt32:
    case GgufValueType::Int32:
    case GgufValueType::Float32:
        return 4;
    case GgufValueType::UInt64:
    case GgufValueType::Int64:
    case GgufValueType::Float64:
        return 8;
    case GgufValueType::String:
    case GgufValueType::Array:
        return 0;
    }
    return 0;
}

bool isUnsignedType(GgufValueType t)
{
    return t == GgufValueType::UInt8 || t == GgufValueType::UInt16 || t == GgufValueType::UInt32 ||
           t == GgufValueType::UInt64 || t == GgufValueType::Bool;
}
bool isSignedType(GgufValueType t)
{
    return t == GgufValueType::Int8 || t == GgufValueType::Int16 || t == GgufValueType::Int32 ||
           t == GgufValueType::Int64;
}
bool isFloatType(GgufValueType t)
{
    return t == GgufValueType::Float32 || t == GgufValueType::Float64;
}

class MetadataParser {
public:
    MetadataParser(Cursor& c) : m_c(c) {}

    GgufValueType valueType(const std::string& where)
    {
        const uint32_t code = m_c.u32(where + " value type");
        if (code > static_cast<uint32_t>(GgufValueType::Float64))
            m_c.fail(where + " has value type " + std::to_string(code) + ", which the format does not define (0..12)");
        return static_cast<GgufValueType>(code);
    }

    GgufValue value(GgufValueType type, const std::string& where, int depth)
    {
        GgufValue v;
        v.type = type;
        switch (type) {
        case GgufValueType::UInt8:
            v.data = uint64_t(m_c.u8(where));
            break;
        case GgufValueType::UInt16:
            v.data = uint64_t(m_c.u16(where));
            break;
        case GgufValueType::UInt32:
            v.data = uint64_t(m_c.u32(where));
            break;
        case GgufValueType::UInt64:
            v.data = m_c.u64(where);
            break;
        case GgufValueType::Int8:
            v.data = int64_t(static_cast<int8_t>(m_c.u8(where)));
            break;
        case GgufValueType::Int16:
            v.data = int64_t(static_cast<int16_t>(m_c.u16(where)));
            break;
        case GgufValueType::Int32:
            v.data = int64_t(static_cast<int32_t>(m_c.u32(where)));
            break;
        case GgufValueType::Int64:
            v.data = static_cast<int64_t>(m_c.u64(where));
            break;
        case GgufValueType::Float32: {
            const uint32_t bits = m_c.u32(where);
            float f;
            std::memcpy(&f, &bits, 4);
            v.data = double(f);
            break;
        }
        case GgufValueType::Float64: {
            const uint64_t bits = m_c.u64(where);
            double f;
            std::memcpy(&f, &bits, 8);
            v.data = f;
            break;
        }
        case GgufValueType::Bool: {
            const uint8_t b = m_c.u8(where);
            if (b > 1)
                m_c.fail(where + " is a BOOL with byte value " + std::to_string(b) + " (only 0 and 1 are valid)");
            v.data = uint64_t(b);
            break;
        }
        case GgufValueType::String:
            v.data = m_c.string(where);
            charge(std::get<std::string>(v.data).size() + sizeof(std::string), where);
            break;
        case GgufValueType::Array:
            array(v, where, depth);
            break;
        }
        return v;
    }

private:
    void charge(uint64_t bytes, const std::string& where)
    {
        m_used += bytes;
        if (m_used > kMetadataBudgetBytes)
            m_c.fail(where + " takes the decoded metadata beyond " + std::to_string(kMetadataBudgetBytes >> 20) +
                     " MiB, more than any model's metadata needs");
    }

    void array(GgufValue& v, const std::string& where, int depth)
    {
        if (depth >= kMaxArrayDepth)
            m_c.fail(where + " nests arrays deeper than " + std::to_string(kMaxArrayDepth) + " levels");
        v.elementType = valueType(where + " element");
        const uint64_t count = m_c.u64(where + " element count");
        // The smallest encoding of one element bounds the count by the bytes that remain, before anything is reserved.
        const uint64_t fixed = scalarBytes(v.elementType);
        const uint64_t minBytes = fixed ? fixed : v.elementType == GgufValueType::String ? 8 : 4 + 8;
        if (count > m_c.remaining() / minBytes)
            m_c.fail(where + " claims " + std::to_string(count) + " elements of " + ggufValueTypeName(v.elementType) +
                     " (at least " + std::to_string(minBytes) + " bytes each) but only " +
                     std::to_string(m_c.remaining()) + " bytes remain");
        const size_t n = static_cast<size_t>(count);
        auto item = [&](uint64_t i) { return where + "[" + std::to_string(i) + "]"; };
        if (isUnsignedType(v.elementType)) {
            charge(count * 8, where);
            std::vector<uint64_t> xs(n);
            for (uint64_t i = 0; i < count; ++i)
                xs[i] = std::get<uint64_t>(value(v.elementType, item(i), depth + 1).data);
            v.data = std::move(xs);
        } else if (isSignedType(v.elementType)) {
            charge(count * 8, where);
            std::vector<int64_t> xs(n);
            for (uint64_t i = 0; i < count; ++i)
                xs[i] = std::get<int64_t>(value(v.elementType, item(i), depth + 1).data);
            v.data = std::move(xs);
        } else if (isFloatType(v.elementType)) {
            charge(count * 8, where);
            std::vector<double> xs(n);
            for (uint64_t i = 0; i < count; ++i)
                xs[i] = std::get<double>(value(v.elementType, item(i), depth + 1).data);
            v.data = std::move(xs);
        } else if (v.elementType == GgufValueType::String) {
            std::vector<std::string> xs;
            xs.reserve(n);
            for (uint64_t i = 0; i < count; ++i)
                xs.push_back(std::get<std::string>(value(v.elementType, item(i), depth + 1).data));
            v.data = std::move(xs);
        } else {
            charge(count * sizeof(GgufValue), where);
            std::vector<GgufValue> xs;
            xs.reserve(n);
            for (uint64_t i = 0; i < count; ++i)
                xs.push_back(value(v.elementType, item(i), depth + 1));
            v.data = std::move(xs);
        }
    }

    Cursor& m_c;
    uint64_t m_used = 0;
};

/// a * b, or false on overflow.
bool multiply(uint64_t a, uint64_t b, uint64_t& r)
{
    return !__builtin_mul_overflow(a, b, &r);
}

/// The header's version and counts; each count already checked against the bytes that remain.
struct GgufHeader {
    uint32_t version = 0;
    uint64_t tensorCount = 0;
    uint64_t kvCount = 0;
};

/// Checks that `path` names a regular file of at least a header's size and maps it read-only, whole.
std::shared_ptr<GgufMapping> mapFile(const std::string& path, const std::string& quoted)
{
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        badInput("cannot open the GGUF file " + quoted + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode))
        badInput(quoted + " is not a regular file (" +
                 std::string(S_ISDIR(st.st_mode)    ? "a folder"
                             : S_ISFIFO(st.st_mode) ? "a pipe"
                                                    : "a device or socket") +
                 "); give the path of a .gguf file");
    // O_NONBLOCK: should the path be swapped for a pipe after the check, opening it must not wait for a writer.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        badInput("cannot open the GGUF file " + quoted + ": " + std::strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        badInput(quoted + " is not a regular file; give the path of a .gguf file");
    }
    auto map = std::make_shared<GgufMapping>();
    map->size = static_cast<uint64_t>(st.st_size);
    constexpr uint64_t kHeaderBytes = 4 + 4 + 8 + 8;
    if (map->size < kHeaderBytes) {
        ::close(fd);
        badInput(quoted + " is not a valid GGUF file: it has " + std::to_string(map->size) +
                 " bytes, fewer than the 24-byte header (truncated?)");
    }
    map->data = mmap(nullptr, map->size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map->data == MAP_FAILED) {
        map->data = nullptr;
        badInput("cannot memory-map the GGUF file " + quoted + ": " + std::strerror(errno));
    }
    return map;
}

/// Magic, version (2 or 3, little-endian) and the tensor and key/value counts.
GgufHeader readHeader(Cursor& c, const std::string& quoted)
{
    GgufHeader h;
    const uint8_t* magic = c.take(4, "magic");
    if (std::memcmp(magic, "GGUF", 4) != 0)
        badInput(quoted + " is not a GGUF file: it does not start with the magic bytes \"GGUF\"");
    h.version = c.u32("version");
    if (h.version == 1)
        badInput(quoted + " is GGUF version 1, which this reader does not support (versions 2 and 3); re-convert it");
    if (h.version != 2 && h.version != 3) {
        const bool bigEndian = h.version >= 0x01000000u && (h.version & 0xFFFFu) == 0;
        badInput(quoted + " has GGUF version " + std::to_string(h.version) +
                 (bigEndian ? " (it looks like a big-endian file, which this reader does not support)"
                            : "; this reader supports versions 2 and 3"));
    }
    h.tensorCount = c.u64("tensor count");
    h.kvCount = c.u64("metadata key/value count");
    if (h.kvCount > c.remaining() / kMinKeyValueBytes)
        c.fail("the header claims " + std::to_string(h.kvCount) + " metadata entries, more than the " +
               std::to_string(c.remaining()) + " remaining bytes can hold");
    if (h.tensorCount > c.remaining() / kMinTensorInfoBytes)
        c.fail("the header claims " + std::to_string(h.tensorCount) + " tensors, more than the " +
               std::to_string(c.remaining()) + " remaining bytes can hold");
    return h;
}

/// The metadata key/value pairs in file order; keys must be non-empty and unique.
std::vector<std::pair<std::string, GgufValue>> readMetadata(Cursor& c, uint64_t kvCount)
{
    MetadataParser parser(c);
    std::map<std::string, size_t> keys;
    std::vector<std::pair<std::string, GgufValue>> metadata;
    metadata.reserve(static_cast<size_t>(kvCount));
    for (uint64_t i = 0; i < kvCount; ++i) {
        const std::string where = "metadata entry " + std::to_string(i);
        std::string key = c.string(where + " key");
        if (key.empty())
            c.fail(where + " has an empty key");
        const std::string named = where + " ('" + key + "')";
        if (keys.count(key))
            c.fail(named + " repeats a key");
        const GgufValueType type = parser.valueType(named);
        GgufValue v = parser.value(type, named, 0);
        keys[key] = metadata.size();
        metadata.emplace_back(std::move(key), std::move(v));
    }
    return metadata;
}

/// The value of general.alignment: an integer power of two, at most 2^30.
uint64_t checkedAlignment(const GgufValue& a, const std::string& quoted)
{
    const auto* u = std::get_if<uint64_t>(&a.data);
    const auto* s = std::get_if<int64_t>(&a.data);
    const bool integer = !a.isArray() && a.type != GgufValueType::Bool && (u || s);
    const uint64_t align = u ? *u : s && *s > 0 ? static_cast<uint64_t>(*s) : 0;
    if (!integer || align == 0 || (align & (align - 1)) != 0 || align > (uint64_t(1) << 30))
        badInput(quoted + " is not a valid GGUF file: general.alignment is " + a.describe() +
                 "; it must be a power of two (UINT32, default 32)");
    return align;
}

/// Tensor info `i`: a new non-empty name, 1 to 4 non-zero dimensions, a known type whose blocks tile the first
/// dimension, and the data offset; with its element and byte counts.
GgufTensorInfo readTensorInfo(Cursor& c, uint64_t i, const std::map<std::string, size_t>& names,
                              const std::string& quoted)
{
    const std::string where = "tensor info " + std::to_string(i);
    GgufTensorInfo t;
    t.name = c.string(where + " name");
    if (t.name.empty())
        c.fail(where + " has an empty name");
    const std::string named = where + " ('" + t.name + "')";
    if (names.count(t.name))
        c.fail(named + " repeats a tensor name");
    const uint32_t dims = c.u32(named + " dimension count");
    if (dims == 0 || dims > kMaxDims)
        c.fail(named + " has " + std::to_string(dims) + " dimensions; ggml tensors have 1 to 4");
    t.numElements = 1;
    for (uint32_t d = 0; d < dims; ++d) {
        const uint64_t n = c.u64(named + " dimension " + std::to_string(d));
        if (n == 0)
            c.fail(named + " has a dimension of 0");
        if (!multiply(t.numElements, n, t.numElements))
            c.fail(named + " has dimensions whose product overflows 64 bits");
        t.ne.push_back(n);
    }
    t.typeCode = c.u32(named + " type");
    const GgmlTypeInfo* info = ggmlTypeInfo(t.typeCode);
    if (!info) {
        const std::string name = ggmlTypeName(t.typeCode);
        const std::string code = " (code " + std::to_string(t.typeCode) + ")";
        badInput(quoted + ": tensor '" + t.name + "' has " +
                 (name.rfind("type ", 0) == 0 ? "an unknown ggml type" + code : "ggml type " + name + code) +
                 ", which this reader does not know (it decodes " + decodableNames() + ")");
    }
    if (t.ne[0] % info->blockElements != 0)
        c.fail(named + " is " + info->name + " with a first dimension of " + std::to_string(t.ne[0]) +
               ", not a multiple of its block of " + std::to_string(info->blockElements));
    if (!multiply(t.numElements / info->blockElements, info->blockBytes, t.numBytes))
        c.fail(named + " has a byte size that overflows 64 bits");
    t.offset = c.u64(named + " offset");
    return t;
}

/// The tensor directory in file order.
std::vector<GgufTensorInfo> readTensorDirectory(Cursor& c, uint64_t tensorCount, const std::string& quoted)
{
    std::map<std::string, size_t> names;
    std::vector<GgufTensorInfo> tensors;
    tensors.reserve(static_cast<size_t>(tensorCount));
    for (uint64_t i = 0; i < tensorCount; ++i) {
        GgufTensorInfo t = readTensorInfo(c, i, names, quoted);
        names[t.name] = tensors.size();
        tensors.push_back(std::move(t));
    }
    return tensors;
}

/// Every tensor's data starts at a multiple of the alignment and lies inside the data section, which starts at
/// `dataOffset` of a file of `fileSize` bytes.
void checkTensorBounds(const std::vector<GgufTensorInfo>& tensors, uint64_t dataOffset, uint64_t alignment,
                       uint64_t fileSize, const std::string& quoted)
{
    const uint64_t dataBytes = dataOffset <= fileSize ? fileSize - dataOffset : 0;
    if (dataOffset > fileSize && !tensors.empty())
        badInput(quoted + " is truncated: the tensor data should start at byte " + std::to_string(dataOffset) +
                 " but the file has " + std::to_string(fileSize) + " bytes");
    for (const auto& t : tensors) {
        const std::string named = quoted + ": tensor '" + t.name + "'";
        if (t.offset % alignment != 0)
            badInput(named + " has data offset " + std::to_string(t.offset) + ", not a multiple of the alignment " +
                     std::to_string(alignment) + " (corrupt file)");
        if (t.offset > dataBytes || t.numBytes > dataBytes - t.offset)
            badInput(named + " (" + std::to_string(t.numBytes) + " bytes at data offset " + std::to_string(t.offset) +
                     ") extends beyond the end of the file, whose data section has " + std::to_string(dataBytes) +
                     " bytes (truncated or corrupt)");
    }
}

/// No two tensors' data overlap (checked in offset order).
void checkNoOverlap(const std::vector<GgufTensorInfo>& tensors, const std::string& quoted)
{
    std::vector<size_t> order(tensors.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tensors[a].offset < tensors[b].offset; });
    for (size_t k = 1; k < order.size(); ++k) {
        const GgufTensorInfo& prev = tensors[order[k - 1]];
        const GgufTensorInfo& cur = tensors[order[k]];
        if (prev.offset + prev.numBytes > cur.offset)
            badInput(quoted + ": the data of tensors '" + prev.name + "' (bytes " + std::to_string(prev.offset) +
                     " to " + std::to_string(prev.offset + prev.numBytes) + ") and '" + cur.name + "' (from " +
                     std::to_string(cur.offset) + ") overlap (corrupt file)");
    }
}

}  // namespace

GgufFile::GgufFile(const std::string& path) : m_path(path)
{
    const std::string quoted = "'" + path + "'";
    m_map = mapFile(path, quoted);
    Cursor c(static_cast<const uint8_t*>(m_map->data), m_map->size, m_path);
    const GgufHeader header = readHeader(c, quoted);
    m_version = header.version;
    m_metadata = readMetadata(c, header.kvCount);
    if (const GgufValue* a = find("general.alignment"))
        m_alignment = checkedAlignment(*a, quoted);
    m_tensors = readTensorDirectory(c, header.tensorCount, quoted);
    // Data section: at the next multiple of the alignment.
    const uint64_t end = c.position();
    m_dataOffset = end + (m_alignment - end % m_alignment) % m_alignment;
    checkTensorBounds(m_tensors, m_dataOffset, m_alignment, m_map->size, quoted);
    checkNoOverlap(m_tensors, quoted);
}

GgufFile::~GgufFile() = default;

uint64_t GgufFile::fileSize() const
{
    return m_map->size;
}

const GgufValue* GgufFile::find(const std::string& key) const
{
    for (const auto& [k, v] : m_metadata)
        if (k == key)
            return &v;
    return nullptr;
}

namespace {

[[noreturn]] void wrongType(const std::string& path, const std::string& key, const GgufValue& v, const char* expected)
{
    badInput("'" + path + "': metadata key '" + key + "' holds " + v.describe() + ", expected " + expected);
}

}  // namespace

std::optional<std::string> GgufFile::getString(const std::string& key) const
{
    const GgufValue* v = find(key);
    if (!v)
        return std::nullopt;
    if (v->type != GgufValueType::String)
        wrongType(m_path, key, *v, "a STRING");
    return std::get<std::string>(v->data);
}

std::optional<int64_t> GgufFile::getInt(const std::string& key) const
{
    const GgufValue* v = find(key);
    if (!v)
        return std::nullopt;
    if (isSignedType(v->type))
        return std::get<int64_t>(v->data);
    if (isUnsignedType(v->type) && v->type != GgufValueType::Bool) {
        const uint64_t u = std::get<uint64_t>(v->data);
        if (u > static_cast<uint64_t>(INT64_MAX))
            wrongType(m_path, key, *v, "an integer below 2^63");
        return static_cast<int64_t>(u);
    }
    wrongType(m_path, key, *v, "an integer");
}

std::optional<double> GgufFile::getFloat(const std::string& key) const
{
    const GgufValue* v = find(key);
    if (!v)
        return std::nullopt;
    if (!isFloatType(v->type))
        wrongType(m_path, key, *v, "FLOAT32 or FLOAT64");
    return std::get<double>(v->data);
}

std::optional<bool> GgufFile::getBool(const std::string& key) const
{
    const GgufValue* v = find(key);
    if (!v)
        return std::nullopt;
    if (v->type != GgufValueType::Bool)
        wrongType(m_path, key, *v, "a BOOL");
    return std::get<uint64_t>(v->data) != 0;
}

std::optional<std::vector<std::string>> GgufFile::getStringArray(const std::string& key) const
{
    const GgufValue* v = find(key);
    if (!v)
        return std::nullopt;
    if (!v->isArray() || v->elementType != GgufValueType::String)
        wrongType(m_path, key, *v, "an ARRAY of STRING");
    return std::get<std::vector<std::string>>(v->data);
}

std::optional<std::vector<double>> GgufFile::getFloatArray(const std::string& key) const
{
    const GgufValue* v = find(key);
    if (!v)
        return std::nullopt;
    if (!v->isArray() || !isFloatType(v->elementType))
        wrongType(m_path, key, *v, "an ARRAY of FLOAT32 or FLOAT64");
    return std::get<std::vector<double>>(v->data);
}

std::optional<std::vector<int64_t>> GgufFile::getIntArray(const std::string& key) const
{
    const GgufValue* v = find(key);
    if (!v)
        return std::nullopt;
    if (!v->isArray() || v->elementType == GgufValueType::Bool ||
        !(isSignedType(v->elementType) || isUnsignedType(v->elementType)))
        wrongType(m_path, key, *v, "an ARRAY of integers");
    if (isSignedType(v->elementType))
        return std::get<std::vector<int64_t>>(v->data);
    const auto& us = std::get<std::vector<uint64_t>>(v->data);
    std::vector<int64_t> r;
    r.reserve(us.size());
    for (uint64_t u : us) {
        if (u > static_cast<uint64_t>(INT64_MAX))
            wrongType(m_path, key, *v, "an ARRAY of integers below 2^63");
        r.push_back(static_cast<int64_t>(u));
    }
    return r;
}

const GgufTensorInfo* GgufFile::findTensor(const std::string& name) const
{
    for (const auto& t : m_tensors)
        if (t.name == name)
            return &t;
    return nullptr;
}

const uint8_t* GgufFile::tensorData(const GgufTensorInfo& t) const
{
    // The directory was validated against the file when it was opened; check the caller's info belongs to it.
    if (t.offset > m_map->size - m_dataOffset || t.numBytes > m_map->size - m_dataOffset - t.offset)
        badInput("'" + m_path + "': tensor '" + t.name + "' lies outside the file");
    return static_cast<const uint8_t*>(m_map->data) + m_dataOffset + t.offset;
}

std::vector<float> GgufFile::decodeFloats(const GgufTensorInfo& t) const
{
    const TypeEntry* e = typeEntry(t.typeCode);
    if (!e || !e->info.decodable)
        badInput("'" + m_path + "': tensor '" + t.name + "' is " + ggmlTypeName(t.typeCode) +
                 ", which this reader cannot decode (it decodes " + decodableNames() + ")");
    const uint8_t* src = tensorData(t);
    std::vector<float> out(static_cast<size_t>(t.numElements));
    const uint64_t blocks = t.numElements / e->info.blockElements;
    if (e->toFloat) {
        e->toFloat(src, blocks, out.data());
        return out;
    }
    if (e->toSuper) {
        // As llama.cpp computes it, each step rounded to float32: the sub-block factor d * scale, times the code, minus
        // dmin * min. The products are exact in float32 (d has 11 significant bits, |scale| <= 128 and
        // |code - offset| <= 32 add at most 12 more), so only the subtraction rounds, and a fused multiply-add would
        // give the same bits.
        uint8_t codes[256];
        int8_t scales[16];
        uint8_t mins[16] = {};
        const int sub = e->subBlockElements;
        for (uint64_t b = 0; b < blocks; ++b) {
            float d = 0, dmin = 0;
            e->toSuper(src + b * e->info.blockBytes, codes, scales, mins, d, dmin);
            float* o = out.data() + b * 256;
            for (int j = 0; j < 256 / sub; ++j) {
                const float factor = d * static_cast<float>(scales[j]);
                const float shift = dmin * static_cast<float>(mins[j]);
                for (int i = j * sub; i < (j + 1) * sub; ++i) {
                    const float value = factor * static_cast<float>(static_cast<int>(codes[i]) - e->codeOffset);
                    o[i] = e->hasMin ? value - shift : value;
                }
            }
        }
        return out;
    }
    int8_t codes[32];
    for (uint64_t b = 0; b < blocks; ++b) {
        float d = 0, m = 0;
        e->toCodes(src + b * e->info.blockBytes, codes, d, m);
        float* o = out.data() + b * 32;
        for (int j = 0; j < 32; ++j)
            o[j] = d * static_cast<float>(codes[j] - e->codeOffset) + m;
    }
    return out;
}

GgufBlockCodes GgufFile::decodeBlocks(const GgufTensorInfo& t) const
{
    const TypeEntry* e = typeEntry(t.typeCode);
    if (!e || !e->toCodes)
        badInput("'" + m_path + "': tensor '" + t.name + "' is " + ggmlTypeName(t.typeCode) +
                 ", not a 32-weight block type with integer codes (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0)");
    const uint8_t* src = tensorData(t);
    const uint64_t blocks = t.numElements / 32;
    GgufBlockCodes r;
    r.type = e->info.type;
    r.codeOffset = e->codeOffset;
    r.codeMin = e->codeMin;
    r.codeMax = e->codeMax;
    r.hasMin = e->hasMin;
    r.codes.resize(static_cast<size_t>(t.numElements));
    r.scales.resize(static_cast<size_t>(blocks));
    if (e->hasMin)
        r.mins.resize(static_cast<size_t>(blocks));
    for (uint64_t b = 0; b < blocks; ++b) {
        float d = 0, m = 0;
        e->toCodes(src + b * e->info.blockBytes, r.codes.data() + b * 32, d, m);
        r.scales[b] = d;
        if (e->hasMin)
            r.mins[b] = m;
    }
    return r;
}

GgufKQuantCodes GgufFile::decodeKQuants(const GgufTensorInfo& t) const
{
    const TypeEntry* e = typeEntry(t.typeCode);
    if (!e || !e->toSuper)
        badInput("'" + m_path + "': tensor '" + t.name + "' is " + ggmlTypeName(t.typeCode) +
                 ", not a k-quant type (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)");
    const uint8_t* src = tensorData(t);
    const uint64_t blocks = t.numElements / 256;
    const int perBlock = 256 / e->subBlockElements;
    GgufKQuantCodes r;
    r.type = e->info.type;
    r.subBlockElements = e->subBlockElements;
    r.codeOffset = e->codeOffset;
    r.codeMax = e->codeMax;
    r.scaleMin = e->scaleMin;
    r.scaleMax = e->scaleMax;
    r.hasMin = e->hasMin;
    r.codes.resize(static_cast<size_t>(t.numElements));
    r.scales.resize(static_cast<size_t>(blocks * perBlock));
    r.d.resize(static_cast<size_t>(blocks));
    if (e->hasMin) {
        r.mins.resize(static_cast<size_t>(blocks * perBlock));
        r.dmin.resize(static_cast<size_t>(blocks));
    }
    uint8_t unusedMins[16];
    for (uint64_t b = 0; b < blocks; ++b) {
        float d = 0, dmin = 0;
        e->toSuper(src + b * e->info.blockBytes, r.codes.data() + b * 256, r.scales.data() + b * perBlock,
                   e->hasMin ? r.mins.data() + b * perBlock : unusedMins, d, dmin);
        r.d[b] = d;
        if (e->hasMin)
            r.dmin[b] = dmin;
    }
    return r;
}

bool looksLikeGguf(const std::string& path)
{
    std::error_code ec;
    if (std::filesystem::path(path).extension() == ".gguf")
        return !std::filesystem::is_directory(path, ec);
    if (!std::filesystem::is_regular_file(path, ec))
        return false;
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {};
    return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

std::vector<int64_t> llamaRopeRowSources(int64_t rows, int64_t heads)
{
    if (heads <= 0 || rows <= 0 || rows % (2 * heads) != 0)
        badInput("cannot undo the rotary row order: " + std::to_string(rows) + " rows do not split into " +
                 std::to_string(heads) + " heads of an even size");
    const int64_t headDim = rows / heads, half = headDim / 2;
    std::vector<int64_t> source(static_cast<size_t>(rows));
    for (int64_t h = 0; h < heads; ++h)
        for (int64_t j = 0; j < half; ++j)
            for (int64_t t = 0; t < 2; ++t)
                source[static_cast<size_t>(h * headDim + 2 * j + t)] = h * headDim + t * half + j;
    return source;
}

}  // namespace aq::detail
