#pragma once
/// Text tokenizers: sentencepiece (`tokenizer.model`), GPT-2 byte-level BPE (`vocab.json` + `merges.txt`)
/// and Hugging Face `tokenizer.json` (BPE with byte-level pre-tokenization).
///
/// A tokenizer is immutable after loading and may be used from any thread.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace aq {

class Tokenizer {
public:
    virtual ~Tokenizer() = default;
    /// Encodes UTF-8 text without special tokens. Throws BadInput on invalid UTF-8.
    virtual std::vector<int32_t> encode(std::string_view text) const = 0;
    virtual int64_t vocabSize() const = 0;
    /// Short description, e.g. "sentencepiece (32000 pieces)".
    virtual std::string describe() const = 0;

    int32_t bosId() const { return m_bosId; }
    int32_t eosId() const { return m_eosId; }
    bool addBos() const { return m_addBos; }
    void setSpecialTokens(int32_t bos, int32_t eos, bool addBos) { m_bosId = bos; m_eosId = eos; m_addBos = addBos; }

    /// encode() with BOS prepended when the model's tokenizer config asks for it.
    std::vector<int32_t> encodeForModel(std::string_view text) const;

private:
    int32_t m_bosId = -1;
    int32_t m_eosId = -1;
    bool m_addBos = true;
};

/// Loads the tokenizer shipped in a model folder: `tokenizer.json`, `tokenizer.model` or `vocab.json`+`merges.txt`,
/// with BOS/EOS from `tokenizer_config.json` / `special_tokens_map.json` / `config.json`.
/// Throws BadInput naming the folder when none is found.
std::unique_ptr<Tokenizer> loadTokenizer(const std::string& modelDir);

/// Individual loaders (BOS/EOS left unset).
std::unique_ptr<Tokenizer> loadSentencePiece(const std::string& modelPath);
std::unique_ptr<Tokenizer> loadGpt2Bpe(const std::string& vocabJsonPath, const std::string& mergesPath);
std::unique_ptr<Tokenizer> loadHfTokenizerJson(const std::string& tokenizerJsonPath);

/// Throws BadInput if `text` is not valid UTF-8 (reports the byte offset).
void checkUtf8(std::string_view text, const std::string& origin);

}  // namespace aq
