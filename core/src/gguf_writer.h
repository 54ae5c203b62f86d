#pragma once
// The GGUF v3 container as written by the exporter: typed metadata, tensor descriptors, aligned data and the ggml
// block layouts of the types an exact export uses, 32-weight blocks and 256-weight k-quant super-blocks (internal,
// torch-free).
//
// The reader in verify is written separately from the format description, so that a layout mistake here shows up
// there and in llama.cpp rather than agreeing with itself.
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace aq {
enum class WeightGrid;
}

namespace aq::detail::gguf {

/// Storage types of ggml that the exporter writes (numbers as in the GGUF tensor descriptor).
enum class GgmlType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    BF16 = 30,
};

/// "F32", "Q4_1", ...
const char* typeName(GgmlType type);
/// The type that stores one k-quant grid (Q4_K for WeightGrid::Q4_K, ...); throws Internal for the others.
GgmlType kquantType(WeightGrid grid);
/// Weights per block (1 for the float types, 32 for Q4_0 ... Q8_0, 256 for the k-quants Q2_K ... Q6_K).
int64_t blockWeights(GgmlType type);
/// Bytes per block.
int64_t blockBytes(GgmlType type);
/// Bytes of a tensor whose innermost dimension is `ne0` and which has `rows` rows; throws BadInput when ne0 is not a
/// multiple of the block size.
uint64_t tensorBytes(GgmlType type, int64_t ne0, int64_t rows);

/// IEEE binary16 bits of `v`, rounded to nearest even (overflow gives infinity, as a cast does).
uint16_t floatToHalf(float v);
/// The value of binary16 bits.
float halfToFloat(uint16_t h);
/// bfloat16 bits of `v`, rounded to nearest even.
uint16_t floatToBf16(float v);

/// Metadata value types of GGUF.
enum class ValueType : uint32_t {
    U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9, U64 = 10,
    I64 = 11, F64 = 12,
};

/// Ordered key/value metadata. Keys are unique: setting a key again replaces its value in place.
class Metadata {
public:
    void setString(const std::string& key, const std::string& value);
    void setU32(const std::string& key, uint32_t value);
    void setI32(const std::string& key, int32_t value);
    void setF32(const std::string& key, float value);
    void setBool(const std::string& key, bool value);
    void setStrings(const std::string& key, const std::vector<std::string>& values);
    void setF32s(const std::string& key, const std::vector<float>& values);
    void setI32s(const std::string& key, const std::vector<int32_t>& values);

    bool contains(const std::string& key) const;
    size_t size() const { return m_entries.size(); }
    /// Appends the serialized key/value pairs to `out`.
    void serialize(std::string& out) const;

private:
    using Value = std::variant<std::string, uint32_t, int32_t, float, bool, std::vector<std::string>,
                               std::vector<float>, std::vector<int32_t>>;
    void set(const std::string& key, Value value);
    std::vector<std::pair<std::string, Value>> m_entries;
};

/// One tensor of the file: name, ggml dimensions (ne[0] innermost: a PyTorch [out, in] weight is {in, out}) and type.
struct TensorInfo {
    std::string name;
    std::vector<int64_t> ne;
    GgmlType type = GgmlType::F32;
    uint64_t offset = 0;  ///< filled by Writer, relative to the data section
    uint64_t bytes = 0;   ///< filled by Writer
};

/// Streams a GGUF file: the header, metadata and every tensor descriptor first, then each tensor's data in the order
/// of the descriptors. Memory stays at one tensor. Write errors (full disk, I/O) throw BadInput naming the file.
class Writer {
public:
    static constexpr uint32_t kAlignment = 32;

    /// Opens `path` for writing (truncating it) and writes everything up to the data section.
    Writer(const std::string& path, const Metadata& metadata, std::vector<TensorInfo> tensors);
    ~Writer();
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    const std::vector<TensorInfo>& tensors() const { return m_tensors; }
    /// Writes the next tensor's data; `name` and the byte count must match its descriptor.
    void writeTensor(const std::string& name, const void* data, uint64_t bytes);
    /// Checks that every tensor was written, flushes and syncs the file to disk, closes it.
    void finish();
    uint64_t bytesWritten() const { return m_written; }

private:
    void put(const void* data, size_t n);
    void pad();
    std::string m_path;
    std::FILE* m_file = nullptr;
    std::vector<TensorInfo> m_tensors;
    size_t m_next = 0;
    uint64_t m_written = 0;
};

// ---- ggml block packing (32 weights per block) ----
// `q` holds 32 codes; `d` and `m` are binary16 bits. The dequantized weight llama.cpp computes is given for each.

/// Q4_0, 18 bytes: d, then 16 bytes whose low nibble is code j and high nibble code j+16; w = d·(q − 8).
void packQ4_0(const uint8_t* q, uint16_t d, uint8_t* out);
/// Q4_1, 20 bytes: d, m, then the nibbles as Q4_0; w = d·q + m.
void packQ4_1(const uint8_t* q, uint16_t d, uint16_t m, uint8_t* out);
/// Q5_0, 22 bytes: d, 4 bytes of fifth bits (bit j of the little-endian word is code j's), the low nibbles as Q4_0;
/// w = d·(q − 16).
void packQ5_0(const uint8_t* q, uint16_t d, uint8_t* out);
/// Q5_1, 24 bytes: d, m, fifth bits, low nibbles; w = d·q + m.
void packQ5_1(const uint8_t* q, uint16_t d, uint16_t m, uint8_t* out);
/// Q8_0, 34 bytes: d, then 32 signed bytes; w = d·q.
void packQ8_0(const int8_t* q, uint16_t d, uint8_t* out);

// ---- k-quant super-blocks (256 weights) ----
// A super-block holds 8 sub-blocks of 32 weights (Q4_K, Q5_K) or 16 sub-blocks of 16 (Q2_K, Q3_K, Q6_K), each with an
// integer scale sc[j] (and min m[j]) that multiplies the super-block's binary16 factor d (and dmin). `q` holds 256
// codes, `sc` and `m` one value per sub-block. Multi-byte fields are little-endian. Several layouts share these pieces:
//   2-bit planes (Q2_K, Q3_K qs, 64 bytes): weight i = 128·h + 32·s + k (h < 2, s < 4, k < 32) keeps its two low bits
//     in bits 2s, 2s+1 of byte 32·h + k.
//   bit columns (Q3_K hmask, Q5_K qh, 32 bytes): one more bit of weight i is bit i / 32 of byte i % 32.
//   6-bit scale and min pairs (Q4_K, Q5_K scales, 12 bytes): for j < 4, the low 6 bits of byte j are sc[j] and of
//     byte j + 4 are m[j]; for j >= 4, byte j + 4 holds sc[j] & 15 in its low and m[j] & 15 in its high nibble, and
//     the top two bits of sc[j] and m[j] are bits 6, 7 of bytes j - 4 and j.
//   nibble pairs (Q4_K, Q5_K qs, 128 bytes): weight i = 64·c + 32·t + k (c < 4, t < 2, k < 32) is nibble t (0 low,
//     1 high) of byte 32·c + k.

/// weight i lies in sub-block j = i / 32; w = (d·sc[j])·q − (dmin·m[j]), q in 0..15, sc, m in 0..63.
/// Q4_K, 144 bytes: d, dmin, 12 bytes of 6-bit scale and min pairs, 128 bytes of nibble pairs.
void packQ4_K(const uint8_t* q, const uint8_t* sc, const uint8_t* m, uint16_t d, uint16_t dmin, uint8_t* out);
/// as Q4_K with q in 0..31.
/// Q5_K, 176 bytes: d, dmin, the scale and min pairs, 32 bytes of bit columns holding bit 4 of each code, then the low
/// four bits of each code as nibble pairs.
void packQ5_K(const uint8_t* q, const uint8_t* sc, const uint8_t* m, uint16_t d, uint16_t dmin, uint8_t* out);
/// sub-blocks of 16 (j = i / 16); w = (d·sc[j])·(q − 32), q in 0..63, sc in -128..127.
/// Q6_K, 210 bytes: 128 bytes ql, 64 bytes qh, 16 signed bytes sc, d. Weight i = 128·h + 32·s + k (h < 2, s < 4,
/// k < 32) keeps its low four bits in nibble s / 2 of ql byte 64·h + 32·(s % 2) + k and its top two bits in bits 2s,
/// 2s+1 of qh byte 32·h + k.
void packQ6_K(const uint8_t* q, const int8_t* sc, uint16_t d, uint8_t* out);
/// sub-blocks of 16; w = (d·sc[j])·(q − 4), q in 0..7, sc in -32..31 (stored as sc + 32 in 6 bits).
/// Q3_K, 110 bytes: 32 bytes of bit columns holding bit 2 of each code (hmask), 64 bytes of 2-bit planes holding the
/// low two bits, 12 bytes of scales, d. Scale u = sc[j] + 32 keeps its low four bits in the low nibble of byte j
/// (j < 8) or the high nibble of byte j - 8 (j >= 8), and its top two bits in bits 2·(j / 4), 2·(j / 4) + 1 of byte
/// 8 + j % 4.
void packQ3_K(const uint8_t* q, const int8_t* sc, uint16_t d, uint8_t* out);
/// sub-blocks of 16; w = (d·sc[j])·q − (dmin·m[j]), q in 0..3, sc and m in 0..15.
/// Q2_K, 84 bytes: 16 bytes whose low nibble is sc[j] and high nibble m[j], 64 bytes of 2-bit planes, d, dmin.
void packQ2_K(const uint8_t* q, const uint8_t* sc, const uint8_t* m, uint16_t d, uint16_t dmin, uint8_t* out);

}  // namespace aq::detail::gguf
