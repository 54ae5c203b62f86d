#pragma once
// The tokenizer of a model folder in the form GGUF embeds it (tokenizer.ggml.*), read straight from the folder's
// files (internal, torch-free).
#include <cstdint>
#include <string>
#include <vector>

namespace aq::detail::gguf {

class Metadata;

/// What llama.cpp needs to rebuild the tokenizer: the vocabulary in id order with scores and token types, merges
/// for byte-level BPE, and the special ids.
struct Vocabulary {
    std::string model;                  ///< "llama" (sentencepiece) or "gpt2" (byte-level BPE)
    std::string pre;                    ///< llama.cpp's pre-tokenizer name ("default", "gpt-2", "llama-bpe", "qwen2")
    std::vector<std::string> tokens;    ///< by id, padded to the model's vocabulary size
    std::vector<float> scores;          ///< sentencepiece only
    std::vector<int32_t> types;         ///< 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte
    std::vector<std::string> merges;    ///< byte-level BPE only: "left right" in priority order
    int64_t bosId = -1, eosId = -1, unkId = -1, padId = -1;
    bool addBos = false, addEos = false;
    bool addSpacePrefix = true;         ///< sentencepiece's add_dummy_prefix
    bool removeExtraWhitespaces = false;
    std::string source;                 ///< "tokenizer.model (sentencepiece BPE, 2048 pieces)", ...
    std::vector<std::string> notes;     ///< what llama.cpp does differently, one sentence each
};

/// Reads the tokenizer files of `modelDir` (tokenizer.model, tokenizer.json or vocab.json + merges.txt) for a model
/// with `vocabSize` embedding rows. `bosId`, `eosId` and `addBos` come from the project's own tokenizer loader (which
/// resolves tokenizer_config.json, special_tokens_map.json and config.json). Throws BadInput for tokenizers llama.cpp
/// cannot reproduce (an unknown pre-tokenizer regex, a non-byte-level BPE, more tokens than embedding rows).
Vocabulary readVocabulary(const std::string& modelDir, int64_t vocabSize, int64_t bosId, int64_t eosId, bool addBos);

/// Writes the tokenizer.ggml.* keys.
void addVocabulary(Metadata& md, const Vocabulary& v);

}  // namespace aq::detail::gguf
