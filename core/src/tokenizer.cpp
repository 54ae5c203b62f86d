// Tokenizer front door: picks the loader for a model folder and resolves BOS/EOS the way Hugging Face does.
#include "aq/tokenizer.h"

#include "aq/error.h"
#include "jsonutil.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>

namespace aq {
namespace detail {

// Defined next to the tokenizer classes (tokenizer_spm.cpp, tokenizer_bpe.cpp). They let this file look up token
// names and model defaults without putting those classes, or a lookup method, into the public header.
bool sentencePieceLookup(const Tokenizer& tok, const std::string& piece, int32_t& id);
bool sentencePieceSpecials(const Tokenizer& tok, int32_t& bos, int32_t& eos);
bool byteLevelBpeLookup(const Tokenizer& tok, const std::string& token, int32_t& id);
bool byteLevelBpeTemplateBos(const Tokenizer& tok, int32_t& bos);

}  // namespace detail

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

bool isFile(const fs::path& p)
{
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

/// The parsed file, or null when it does not exist.
Json readOptionalJson(const fs::path& p, const char* what)
{
    return isFile(p) ? detail::readJsonFile(p, what) : Json();
}

/// A special-token name from tokenizer_config.json / special_tokens_map.json: either a plain string or an
/// AddedToken object {"content": "<s>", ...}.
std::optional<std::string> tokenName(const Json& cfg, const char* key)
{
    if (!cfg.is_object())
        return std::nullopt;
    const auto it = cfg.find(key);
    if (it == cfg.end())
        return std::nullopt;
    if (it->is_string())
        return it->get<std::string>();
    if (it->is_object()) {
        const auto content = it->find("content");
        if (content != it->end() && content->is_string())
            return content->get<std::string>();
    }
    return std::nullopt;
}

/// config.json's bos_token_id / eos_token_id: an integer, a list (first entry; LLaMA-3.1 lists several EOS ids),
/// or null.
int32_t configTokenId(const Json& config, const char* key)
{
    if (!config.is_object())
        return -1;
    const auto it = config.find(key);
    if (it == config.end())
        return -1;
    if (it->is_number_integer())
        return it->get<int32_t>();
    if (it->is_array() && !it->empty() && (*it)[0].is_number_integer())
        return (*it)[0].get<int32_t>();
    return -1;
}

int32_t lookupToken(const Tokenizer& tok, const std::string& name)
{
    int32_t id = -1;
    if (detail::sentencePieceLookup(tok, name, id) || detail::byteLevelBpeLookup(tok, name, id))
        return id;
    return -1;
}

int32_t resolveSpecial(const Tokenizer& tok, const Json& tokenizerConfig, const Json& specialMap, const Json& config,
                       const char* nameKey, const char* idKey)
{
    auto name = tokenName(tokenizerConfig, nameKey);
    if (!name)
        name = tokenName(specialMap, nameKey);
    if (name)
        if (const int32_t id = lookupToken(tok, *name); id >= 0)
            return id;
    return configTokenId(config, idKey);
}

const char* describeByte(unsigned char c)
{
    return (c & 0xC0) == 0x80 ? "unexpected continuation byte" : "invalid lead byte";
}

}  // namespace

void checkUtf8(std::string_view text, const std::string& origin)
{
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    const size_t n = text.size();
    size_t i = 0;
    auto fail = [&](size_t offset, const std::string& why) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02X", s[offset]);
        badInput(origin + " is not valid UTF-8: " + why + " " + hex + " at byte offset " + std::to_string(offset));
    };
    while (i < n) {
        // Most text is ASCII; skip it eight bytes at a time.
        while (i + 8 <= n) {
            uint64_t word;
            std::memcpy(&word, s + i, 8);
            if (word & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        const unsigned char c = s[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t len = 0;
        uint32_t cp = 0;
        uint32_t minCp = 0;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2, cp = c & 0x1F, minCp = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3, cp = c & 0x0F, minCp = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4, cp = c & 0x07, minCp = 0x10000;
        } else {
            fail(i, c == 0xC0 || c == 0xC1 ? "overlong lead byte" : describeByte(c));
        }
        if (i + len > n)
            fail(i, "truncated sequence starting with");
        for (size_t k = 1; k < len; ++k) {
            if ((s[i + k] & 0xC0) != 0x80)
                fail(i + k, "missing continuation byte, found");
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < minCp)
            fail(i, "overlong encoding starting with");
        if (cp >= 0xD800 && cp <= 0xDFFF)
            fail(i, "UTF-16 surrogate code point starting with");
        if (cp > 0x10FFFF)
            fail(i, "code point above U+10FFFF, starting with");
        i += len;
    }
}

std::vector<int32_t> Tokenizer::encodeForModel(std::string_view text) const
{
    std::vector<int32_t> ids = encode(text);
    if (m_addBos && m_bosId >= 0)
        ids.insert(ids.begin(), m_bosId);
    return ids;
}

std::unique_ptr<Tokenizer> loadTokenizer(const std::string& modelDir)
{
    const fs::path dir(modelDir);
    const std::string expected = " (expected tokenizer.json, tokenizer.model or vocab.json + merges.txt)";
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        badInput("no tokenizer found in " + modelDir + ": the folder does not exist" + expected);

    const fs::path hfJson = dir / "tokenizer.json";
    const fs::path spmModel = dir / "tokenizer.model";
    const fs::path vocabJson = dir / "vocab.json";
    const fs::path mergesTxt = dir / "merges.txt";
    const bool hasSpm = isFile(spmModel);
    const bool hasGpt2 = isFile(vocabJson) && isFile(mergesTxt);

    std::unique_ptr<Tokenizer> tok;
    if (isFile(hfJson)) {
        try {
            tok = loadHfTokenizerJson(hfJson.string());
        } catch (const Error& e) {
            // LLaMA-2/Mistral folders ship a sentencepiece-style tokenizer.json next to tokenizer.model; the
            // latter encodes identically, so an unsupported tokenizer.json is not fatal when an alternative exists.
            if (e.code() != ErrorCode::BadInput || !(hasSpm || hasGpt2))
                throw;
        }
    }
    if (!tok && hasSpm)
        tok = loadSentencePiece(spmModel.string());
    if (!tok && hasGpt2)
        tok = loadGpt2Bpe(vocabJson.string(), mergesTxt.string());
    if (!tok)
        badInput("no tokenizer found in " + modelDir + expected);

    const Json tokenizerConfig = readOptionalJson(dir / "tokenizer_config.json", "tokenizer config");
    const Json specialMap = readOptionalJson(dir / "special_tokens_map.json", "special tokens map");
    const Json config = readOptionalJson(dir / "config.json", "model config");

    int32_t bos = resolveSpecial(*tok, tokenizerConfig, specialMap, config, "bos_token", "bos_token_id");
    int32_t eos = resolveSpecial(*tok, tokenizerConfig, specialMap, config, "eos_token", "eos_token_id");

    // Whether BOS is prepended: an explicit add_bos_token wins. Otherwise follow what the Hugging Face tokenizer
    // class does by default: sentencepiece (LlamaTokenizer) adds it, GPT2Tokenizer does not, and a tokenizer.json
    // adds whatever its post-processor template puts first.
    bool addBos = false;
    int32_t spmBos = -1;
    int32_t spmEos = -1;
    int32_t templateBos = -1;
    if (detail::sentencePieceSpecials(*tok, spmBos, spmEos)) {
        bos = bos >= 0 ? bos : spmBos;
        eos = eos >= 0 ? eos : spmEos;
        addBos = true;
    } else if (detail::byteLevelBpeTemplateBos(*tok, templateBos) && templateBos >= 0) {
        bos = bos >= 0 ? bos : templateBos;
        addBos = true;
    }
    if (tokenizerConfig.is_object()) {
        const auto it = tokenizerConfig.find("add_bos_token");
        if (it != tokenizerConfig.end() && it->is_boolean())
            addBos = it->get<bool>();
    }
    const int64_t vocab = tok->vocabSize();
    if (bos >= vocab)
        bos = -1;  // an id the embedding cannot hold is worse than none
    if (eos >= vocab)
        eos = -1;
    tok->setSpecialTokens(bos, eos, addBos && bos >= 0);
    return tok;
}

}  // namespace aq
