#pragma once
// Reading GGUF model files (metadata, tensor directory, float and integer decoding of ggml block types); torch-free.
//
// Written from the format description (../shared/spec/export-formats.md §4 and the GGUF specification): little-endian,
// magic "GGUF", version, tensor and key/value counts, key/value metadata, tensor infos, then the tensor data at the
// next multiple of `general.alignment`. Shares no code with the GGUF writer: verification reads exports through this
// file so that a layout mistake on either side shows up. Every length, count, dimension product and offset is checked
// against the file size before it is used.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace aq::detail {

/// Metadata value types. The numbers are the file format's codes (so UInt8 is 0 here, not an invalid value).
enum class GgufValueType : uint32_t {
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
};

/// "UINT8", "STRING", ... ("type N" for codes outside the format).
std::string ggufValueTypeName(GgufValueType type);

/// One metadata value. Scalars keep their stored type; integers are widened to uint64 (unsigned types, bool) or int64
/// (signed types), floats to double. Arrays hold their elements in the vector of their category; arrays of arrays
/// hold nested values.
struct GgufValue {
    GgufValueType type = GgufValueType::UInt8;
    GgufValueType elementType = GgufValueType::UInt8;  ///< arrays only
    std::variant<uint64_t, int64_t, double, std::string, std::vector<uint64_t>, std::vector<int64_t>,
                 std::vector<double>, std::vector<std::string>, std::vector<GgufValue>>
        data;

    bool isArray() const { return type == GgufValueType::Array; }
    /// Number of elements of an array (0 for scalars).
    uint64_t arraySize() const;
    /// Short description for messages: "UINT32 7", "STRING 'llama'", "ARRAY of 2048 STRING".
    std::string describe() const;
};

/// ggml tensor types. The numbers are the file format's codes.
enum class GgmlType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    BF16 = 30,
};

/// The storage layout of a ggml type: `blockElements` values in `blockBytes` bytes. Types this reader knows the layout
/// of but cannot decode (Q8_1, Q8_K, integer types) still have their sizes, so files holding them can be listed.
struct GgmlTypeInfo {
    GgmlType type;
    const char* name;  ///< "Q4_1"
    uint32_t blockElements;
    uint32_t blockBytes;
    bool decodable;     ///< decodeFloats() supports it
    bool simpleBlocks;  ///< 32-weight blocks with one scale d (and min m): decodeBlocks() supports it
    bool kQuantBlocks;  ///< 256-weight super-blocks of integer-scaled sub-blocks (Q2_K ... Q6_K): decodeKQuants()
};

/// Layout of a ggml type code, or null when this reader does not know the code.
const GgmlTypeInfo* ggmlTypeInfo(uint32_t code);
/// Name of a ggml type code: the layout table's name, the name of a known type this reader has no layout for
/// ("IQ2_XXS"), or "type N".
std::string ggmlTypeName(uint32_t code);

/// One tensor of the directory.
struct GgufTensorInfo {
    std::string name;
    std::vector<uint64_t> ne;  ///< dimensions, ne[0] innermost (contiguous)
    uint32_t typeCode = 0;     ///< ggml type code
    uint64_t offset = 0;       ///< byte offset from the start of the data section
    uint64_t numBytes = 0;
    uint64_t numElements = 0;

    const GgmlTypeInfo& typeInfo() const;
    GgmlType type() const { return typeInfo().type; }
    /// Dimensions outermost first, as PyTorch writes shapes: a 2-D tensor [ne[1], ne[0]] = [out, in].
    std::vector<int64_t> shape() const;
};

/// A tensor of a 32-weight block type in integer form: weight i = scales[b] * (codes[i] - codeOffset) + mins[b] with
/// b = i / 32, in file order (ne[0] fastest).
struct GgufBlockCodes {
    GgmlType type = GgmlType::F32;
    int64_t blockElements = 32;
    int codeOffset = 0;            ///< Q4_0: 8, Q5_0: 16, others 0
    int codeMin = 0, codeMax = 0;  ///< the range the type can store: Q4: [0, 15], Q5: [0, 31], Q8_0: [-128, 127]
    bool hasMin = false;           ///< Q4_1, Q5_1
    std::vector<int8_t> codes;     ///< one per weight
    std::vector<float> scales;     ///< d, one per block (float16 in the file)
    std::vector<float> mins;       ///< m, one per block (float16 in the file); empty without hasMin
};

/// A tensor of a k-quant type (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) in integer form, in file order (ne[0] fastest). Weight i
/// lies in super-block s = i / 256 and sub-block j = i / subBlockElements (counted over the whole tensor):
///   w = (d[s] * scales[j]) * (codes[i] - codeOffset) - dmin[s] * mins[j]
/// each product rounded to float32 in that order, as llama.cpp decodes it (the last term only with hasMin).
struct GgufKQuantCodes {
    GgmlType type = GgmlType::Q4_K;
    int64_t superBlockElements = 256;
    int64_t subBlockElements = 32;    ///< Q4_K, Q5_K: 32; Q2_K, Q3_K, Q6_K: 16
    int codeOffset = 0;               ///< Q3_K: 4, Q6_K: 32, others 0
    int codeMax = 0;                  ///< codes lie in [0, codeMax]: Q2_K 3, Q3_K 7, Q4_K 15, Q5_K 31, Q6_K 63
    int scaleMin = 0, scaleMax = 0;   ///< Q2_K [0, 15], Q3_K [-32, 31], Q4_K and Q5_K [0, 63], Q6_K [-128, 127]
    bool hasMin = false;              ///< Q2_K, Q4_K, Q5_K (mins lie in [0, 15] for Q2_K, [0, 63] otherwise)
    std::vector<uint8_t> codes;       ///< one per weight, as stored (before codeOffset is subtracted)
    std::vector<int8_t> scales;       ///< one per sub-block
    std::vector<uint8_t> mins;        ///< one per sub-block; empty without hasMin
    std::vector<float> d;             ///< one per super-block (float16 in the file)
    std::vector<float> dmin;          ///< one per super-block (float16 in the file); empty without hasMin
};

struct GgufMapping;

/// A validated, memory-mapped GGUF file (version 3; version 2 is read the same way). Opening parses and checks the
/// header, all metadata and the tensor directory; tensor data is read on demand. Read-only after construction and
/// safe to use from several threads. Errors are aq::Error BadInput naming the file and what is wrong.
class GgufFile {
public:
    explicit GgufFile(const std::string& path);
    ~GgufFile();
    GgufFile(const GgufFile&) = delete;
    GgufFile& operator=(const GgufFile&) = delete;

    const std::string& path() const { return m_path; }
    uint32_t version() const { return m_version; }
    uint64_t alignment() const { return m_alignment; }
    uint64_t dataOffset() const { return m_dataOffset; }
    uint64_t fileSize() const;

    /// Metadata in file order.
    const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return m_metadata; }
    /// Null when the key is absent.
    const GgufValue* find(const std::string& key) const;

    // Typed lookups: nullopt when the key is absent; BadInput when it holds another type.
    std::optional<std::string> getString(const std::string& key) const;
    /// Any integer type whose value fits int64.
    std::optional<int64_t> getInt(const std::string& key) const;
    /// FLOAT32 or FLOAT64.
    std::optional<double> getFloat(const std::string& key) const;
    std::optional<bool> getBool(const std::string& key) const;
    std::optional<std::vector<std::string>> getStringArray(const std::string& key) const;
    /// Arrays of FLOAT32 or FLOAT64.
    std::optional<std::vector<double>> getFloatArray(const std::string& key) const;
    /// Arrays of any integer type whose values fit int64.
    std::optional<std::vector<int64_t>> getIntArray(const std::string& key) const;

    const std::vector<GgufTensorInfo>& tensors() const { return m_tensors; }
    /// Null when absent.
    const GgufTensorInfo* findTensor(const std::string& name) const;

    /// The tensor's bytes inside the mapping (numBytes of them), valid while this object lives.
    const uint8_t* tensorData(const GgufTensorInfo& tensor) const;
    /// Every value of the tensor as float, in file order. BadInput for types that cannot be decoded (named).
    std::vector<float> decodeFloats(const GgufTensorInfo& tensor) const;
    /// Codes, scales and mins of a 32-weight block type (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0). BadInput for other types.
    GgufBlockCodes decodeBlocks(const GgufTensorInfo& tensor) const;
    /// Codes, sub-block scales and mins and super-block factors of a k-quant (Q2_K ... Q6_K). BadInput for other types.
    GgufKQuantCodes decodeKQuants(const GgufTensorInfo& tensor) const;

private:
    std::string m_path;
    std::shared_ptr<GgufMapping> m_map;
    uint32_t m_version = 0;
    uint64_t m_alignment = 32;
    uint64_t m_dataOffset = 0;
    std::vector<std::pair<std::string, GgufValue>> m_metadata;
    std::vector<GgufTensorInfo> m_tensors;
};

/// True when `path` is named *.gguf and is not a folder (whether or not it exists), or is a regular file that starts
/// with the GGUF magic: the paths verification reads as GGUF.
bool looksLikeGguf(const std::string& path);

/// IEEE half precision bits to float (subnormals, infinities and NaN included).
float halfToFloat(uint16_t bits);
/// bfloat16 bits to float.
float bfloat16ToFloat(uint16_t bits);

/// The row order of q and k projections in "llama" GGUF files: converters permute each head's rows for llama.cpp's
/// interleaved rotary embedding, w.reshape(heads, 2, headDim/2, in).transpose(1, 2).reshape(out, in), so that GGUF row
/// h*headDim + 2*j + t holds Hugging Face row h*headDim + t*headDim/2 + j. Returns, for each GGUF row, the Hugging Face
/// row it holds (undo with hf[source[r]] = gguf[r]). BadInput unless rows is a multiple of 2*heads.
std::vector<int64_t> llamaRopeRowSources(int64_t rows, int64_t heads);

}  // namespace aq::detail
