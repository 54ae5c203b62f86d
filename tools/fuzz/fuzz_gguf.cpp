// Fuzz target: a GGUF file, opened with aq::detail::GgufFile (the reader 'affinequant verify' uses for GGUF exports):
// header, metadata, tensor directory; then the typed metadata lookups verification makes, and every tensor decoded
// the ways the reader offers.
#include "fuzz_common.h"
#include "gguf_reader.h"

#include <stdexcept>

namespace {

// Keys verification reads from a GGUF export.
const char* const kStringKeys[] = {"general.architecture", "general.name", "tokenizer.ggml.model",
                                   "tokenizer.ggml.pre"};
const char* const kIntKeys[] = {"general.alignment", "general.file_type", "llama.block_count", "llama.context_length",
                                "llama.embedding_length", "llama.feed_forward_length", "llama.attention.head_count",
                                "llama.attention.head_count_kv", "llama.vocab_size", "tokenizer.ggml.bos_token_id"};
const char* const kFloatKeys[] = {"llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon"};

// Decoding is bounded by the file size already; this only keeps each input fast.
constexpr uint64_t kMaxDecodedElements = uint64_t(1) << 22;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    aqfuzz::init("gguf");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const auto path = aqfuzz::workDir() / "model.gguf";
    aqfuzz::writeFile(path, data, size);
    aqfuzz::guarded([&] {
        if (!aq::detail::looksLikeGguf(path.string()))
            throw std::logic_error("a *.gguf path is not taken for GGUF");
        const aq::detail::GgufFile file(path.string());
        for (const auto& [key, value] : file.metadata()) {
            (void)value.describe();
            if (file.find(key) == nullptr)
                throw std::logic_error("metadata key '" + key + "' listed but not found");
        }
        // Typed lookups throw BadInput for a value of another type; each is tried on its own.
        auto lookup = [](auto&& fn) {
            try {
                fn();
            } catch (const aq::Error& e) {
                if (e.code() != aq::ErrorCode::BadInput)
                    throw;
            }
        };
        for (const char* key : kStringKeys)
            lookup([&] { (void)file.getString(key); });
        for (const char* key : kIntKeys)
            lookup([&] { (void)file.getInt(key); });
        for (const char* key : kFloatKeys)
            lookup([&] { (void)file.getFloat(key); });
        lookup([&] { (void)file.getBool("tokenizer.ggml.add_bos_token"); });
        lookup([&] { (void)file.getStringArray("tokenizer.ggml.tokens"); });
        lookup([&] { (void)file.getFloatArray("tokenizer.ggml.scores"); });
        lookup([&] { (void)file.getIntArray("tokenizer.ggml.token_type"); });
        for (const auto& t : file.tensors()) {
            if (file.findTensor(t.name) == nullptr)
                throw std::logic_error("tensor '" + t.name + "' listed but not found");
            (void)t.shape();
            (void)file.tensorData(t);
            if (t.numElements > kMaxDecodedElements)
                continue;
            const aq::detail::GgmlTypeInfo& info = t.typeInfo();
            if (info.decodable) {
                const std::vector<float> values = file.decodeFloats(t);
                if (values.size() != t.numElements)
                    throw std::logic_error("tensor '" + t.name + "' decoded to the wrong number of values");
            }
            if (info.simpleBlocks) {
                const aq::detail::GgufBlockCodes codes = file.decodeBlocks(t);
                if (codes.codes.size() != t.numElements)
                    throw std::logic_error("tensor '" + t.name + "' decoded to the wrong number of codes");
            }
        }
    });
    return 0;
}
