// Tokenizer files of a model folder turned into GGUF's tokenizer.ggml.* metadata.
#include "gguf_vocab.h"

#include "aq/error.h"
#include "gguf_writer.h"
#include "jsonutil.h"

#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

namespace fs = std::filesystem;

namespace aq::detail::gguf {

namespace {

using nlohmann::json;

constexpr int32_t kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5;

// ---- sentencepiece's ModelProto, read field by field (protobuf wire format) ----

/// A bounds-checked cursor over protobuf bytes; every failure names the file.
class ProtoReader {
public:
    ProtoReader(const std::string& bytes, size_t begin, size_t end, const std::string& origin)
        : m_b(bytes), m_pos(begin), m_end(end), m_origin(origin) {}

    bool done() const { return m_pos >= m_end; }

    uint64_t varint()
    {
        uint64_t r = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (m_pos >= m_end)
                corrupt("a number runs past the end");
            const auto c = static_cast<uint8_t>(m_b[m_pos++]);
            r |= static_cast<uint64_t>(c & 0x7f) << shift;
            if (c < 0x80)
                return r;
        }
        corrupt("a number is longer than 10 bytes");
    }

    /// Next field: number, wire type, and for length-delimited fields the [begin, end) of the payload.
    struct Field {
        uint64_t number = 0;
        int wire = 0;
        uint64_t value = 0;     ///< varint / fixed value
        size_t begin = 0, end = 0;
    };
    Field next()
    {
        Field f;
        const uint64_t key = varint();
        f.number = key >> 3;
        f.wire = static_cast<int>(key & 7);
        switch (f.wire) {
        case 0: f.value = varint(); break;
        case 1: f.value = fixed(8); break;
        case 5: f.value = fixed(4); break;
        case 2: {
            const uint64_t n = varint();
            if (n > m_end - m_pos)
                corrupt("a field of " + std::to_string(n) + " bytes runs past the end");
            f.begin = m_pos;
            f.end = m_pos + n;
            m_pos = f.end;
            break;
        }
        default: corrupt("unknown wire type " + std::to_string(f.wire));
        }
        return f;
    }

private:
    uint64_t fixed(int n)
    {
        if (static_cast<size_t>(n) > m_end - m_pos)
            corrupt("a fixed-size field runs past the end");
        uint64_t v = 0;
        for (int i = 0; i < n; ++i)
            v |= static_cast<uint64_t>(static_cast<uint8_t>(m_b[m_pos + i])) << (8 * i);
        m_pos += n;
        return v;
    }
    [[noreturn]] void corrupt(const std::string& what) const
    {
        badInput("'" + m_origin + "' is not a valid sentencepiece model (" + what +
                 "); the file is corrupt or truncated");
    }
    const std::string& m_b;
    size_t m_pos, m_end;
    std::string m_origin;
};

float floatFromBits(uint64_t bits)
{
    const auto u = static_cast<uint32_t>(bits);
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

void readSentencePiece(const fs::path& path, Vocabulary& v)
{
    const std::string bytes = readTextFile(path, "sentencepiece model");
    const std::string origin = path.string();
    int64_t modelType = 1;  // UNIGRAM unless the trainer spec says otherwise
    ProtoReader top(bytes, 0, bytes.size(), origin);
    while (!top.done()) {
        const auto f = top.next();
        if (f.number == 1 && f.wire == 2) {
            std::string piece;
            float score = 0;
            int32_t type = kNormal;
            ProtoReader p(bytes, f.begin, f.end, origin);
            while (!p.done()) {
                const auto g = p.next();
                if (g.number == 1 && g.wire == 2)
                    piece = bytes.substr(g.begin, g.end - g.begin);
                else if (g.number == 2 && g.wire == 5)
                    score = floatFromBits(g.value);
                else if (g.number == 3 && g.wire == 0)
                    type = static_cast<int32_t>(g.value);
            }
            if (type < 1 || type > 6)
                badInput("'" + origin + "': piece " + std::to_string(v.tokens.size()) + " has unknown type " +
                         std::to_string(type));
            v.tokens.push_back(piece);
            v.scores.push_back(score);
            v.types.push_back(type);
        } else if (f.number == 2 && f.wire == 2) {  // TrainerSpec
            ProtoReader t(bytes, f.begin, f.end, origin);
            while (!t.done()) {
                const auto g = t.next();
                auto asId = [&] { return static_cast<int64_t>(static_cast<int32_t>(static_cast<uint32_t>(g.value))); };
                if (g.wire != 0)
                    continue;
                if (g.number == 3)
                    modelType = static_cast<int64_t>(g.value);
                else if (g.number == 40)
                    v.unkId = asId();
                else if (g.number == 43)
                    v.padId = asId();
            }
        } else if (f.number == 3 && f.wire == 2) {  // NormalizerSpec
            ProtoReader n(bytes, f.begin, f.end, origin);
            while (!n.done()) {
                const auto g = n.next();
                if (g.number == 1 && g.wire == 2) {
                    const std::string name = bytes.substr(g.begin, g.end - g.begin);
                    if (name != "identity" && !name.empty())
                        v.notes.push_back("the sentencepiece normalizer '" + name +
                                          "' is not applied by llama.cpp; text that it would change tokenizes "
                                          "differently there");
                } else if (g.number == 3 && g.wire == 0) {
                    v.addSpacePrefix = g.value != 0;
                } else if (g.number == 4 && g.wire == 0) {
                    v.removeExtraWhitespaces = g.value != 0;
                }
            }
        }
    }
    if (v.tokens.empty())
        badInput("'" + origin + "' holds no pieces; it is not a sentencepiece model");
    v.model = "llama";
    v.pre = "default";
    const char* kinds[] = {"?", "unigram", "BPE", "word", "char"};
    v.source = "tokenizer.model (sentencepiece " + std::string(modelType >= 1 && modelType <= 4 ? kinds[modelType] : "?") +
               ", " + std::to_string(v.tokens.size()) + " pieces)";
    if (modelType != 2)
        v.notes.push_back("llama.cpp tokenizes sentencepiece models with its score-ordered merge algorithm, which "
                          "equals sentencepiece for BPE models; this one is " +
                          std::string(modelType == 1 ? "unigram" : "not BPE") + ", so segmentations can differ");
}

// ---- byte-level BPE ----

constexpr const char* kGpt2Regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr const char* kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

/// llama.cpp's name for a pre-tokenizer regex, or empty when it has none that splits the same way.
std::string preName(const std::string& regex)
{
    if (regex == kGpt2Regex)
        return "gpt-2";
    if (regex == kLlama3Regex)
        return "llama-bpe";
    if (regex == kQwen2Regex)
        return "qwen2";
    return {};
}

/// Walks a tokenizer.json pre_tokenizer and names the llama.cpp pre-tokenizer that matches it.
std::string preFromJson(const json& pre, const std::string& origin)
{
    std::string regex;
    bool byteLevelRegex = false;
    std::vector<const json*> steps;
    if (pre.is_object() && pre.value("type", std::string()) == "Sequence" && pre.contains("pretokenizers") &&
        pre["pretokenizers"].is_array())
        for (const auto& s : pre["pretokenizers"])
            steps.push_back(&s);
    else
        steps.push_back(&pre);
    for (const json* s : steps) {
        if (!s->is_object())
            badInput(origin + ": a pre_tokenizer step is not an object");
        const std::string type = s->value("type", std::string());
        if (type == "ByteLevel") {
            if (s->value("add_prefix_space", false))
                badInput(origin + ": the ByteLevel pre-tokenizer adds a prefix space, which llama.cpp's BPE "
                                  "tokenizer does not do; GGUF export cannot keep this tokenizer");
            byteLevelRegex = byteLevelRegex || s->value("use_regex", true);
        } else if (type == "Split") {
            if (s->contains("pattern") && (*s)["pattern"].is_object() && (*s)["pattern"].contains("Regex") &&
                (*s)["pattern"]["Regex"].is_string())
                regex = (*s)["pattern"]["Regex"].get<std::string>();
            else
                badInput(origin + ": a Split pre-tokenizer without a regex has no llama.cpp equivalent");
        } else {
            badInput(origin + ": pre-tokenizer '" + type + "' has no llama.cpp equivalent");
        }
    }
    if (!regex.empty() && byteLevelRegex)
        badInput(origin + ": both a Split regex and ByteLevel's own regex split the text; llama.cpp has no such "
                          "pre-tokenizer");
    if (regex.empty())
        regex = byteLevelRegex ? kGpt2Regex : "";
    const std::string name = preName(regex);
    if (name.empty())
        badInput(origin + ": the pre-tokenizer regex " + (regex.empty() ? std::string("(none)") : "'" + regex + "'") +
                 " is not one llama.cpp knows (GPT-2, LLaMA-3 or Qwen2); a GGUF export would tokenize differently "
                 "there, so it is refused");
    return name;
}

void readMergesText(const fs::path& path, std::vector<std::string>& merges)
{
    std::istringstream in(readTextFile(path, "BPE merges"));
    std::string line;
    bool first = true;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (first && line.rfind("#version", 0) == 0) {
            first = false;
            continue;
        }
        first = false;
        if (line.empty())
            continue;
        merges.push_back(line);
    }
}

void placeToken(std::map<int64_t, std::pair<std::string, int32_t>>& byId, int64_t id, const std::string& text,
                int32_t type, const std::string& origin)
{
    if (id < 0)
        badInput(origin + ": token '" + text + "' has a negative id");
    byId[id] = {text, type};
}

void readByteLevelBpe(const fs::path& dir, Vocabulary& v)
{
    std::map<int64_t, std::pair<std::string, int32_t>> byId;
    if (fs::exists(dir / "tokenizer.json")) {
        const fs::path path = dir / "tokenizer.json";
        const std::string origin = path.string();
        const json root = readJsonFile(path, "tokenizer");
        if (!root.is_object() || !root.contains("model") || !root["model"].is_object())
            badInput(origin + ": no tokenizer model");
        const json& model = root["model"];
        if (model.value("type", std::string()) != "BPE")
            badInput(origin + ": only byte-level BPE tokenizers can be embedded in GGUF by this exporter");
        if (!model.contains("vocab") || !model["vocab"].is_object())
            badInput(origin + ": model has no vocab object");
        for (const auto& [text, id] : model["vocab"].items()) {
            if (!id.is_number_integer())
                badInput(origin + ": the id of token '" + text + "' is not a whole number");
            placeToken(byId, id.get<int64_t>(), text, kNormal, origin);
        }
        if (root.contains("added_tokens") && root["added_tokens"].is_array())
            for (const auto& t : root["added_tokens"]) {
                if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || !t.contains("content") ||
                    !t["content"].is_string())
                    badInput(origin + ": an added token lacks its id or content");
                placeToken(byId, t["id"].get<int64_t>(), t["content"].get<std::string>(),
                           t.value("special", false) ? kControl : kUserDefined, origin);
            }
        if (!model.contains("merges") || !model["merges"].is_array())
            badInput(origin + ": model has no merges list");
        for (const auto& m : model["merges"]) {
            if (m.is_string())
                v.merges.push_back(m.get<std::string>());
            else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
                v.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
            else
                badInput(origin + ": a merge is neither \"a b\" nor [\"a\", \"b\"]");
        }
        v.pre = root.contains("pre_tokenizer") && !root["pre_tokenizer"].is_null()
                    ? preFromJson(root["pre_tokenizer"], origin)
                    : "";
        if (v.pre.empty())
            badInput(origin + ": no pre-tokenizer; llama.cpp's byte-level BPE needs one");
        if (root.contains("normalizer") && root["normalizer"].is_object() &&
            root["normalizer"].value("type", std::string()) == "NFC")
            v.notes.push_back("the NFC normalizer is not applied by llama.cpp (nor here): text that is not already "
                              "NFC tokenizes the same way in both, unnormalized");
        v.source = "tokenizer.json (byte-level BPE, " + std::to_string(byId.size()) + " tokens, pre-tokenizer " +
                   v.pre + ")";
    } else {
        const fs::path vocabPath = dir / "vocab.json", mergesPath = dir / "merges.txt";
        const json vocab = readJsonFile(vocabPath, "BPE vocabulary");
        if (!vocab.is_object())
            badInput(vocabPath.string() + ": not a JSON object of token -> id");
        for (const auto& [text, id] : vocab.items()) {
            if (!id.is_number_integer())
                badInput(vocabPath.string() + ": the id of token '" + text + "' is not a whole number");
            placeToken(byId, id.get<int64_t>(), text, kNormal, vocabPath.string());
        }
        readMergesText(mergesPath, v.merges);
        v.pre = "gpt-2";
        v.source = "vocab.json + merges.txt (GPT-2 byte-level BPE, " + std::to_string(byId.size()) + " tokens)";
    }
    if (byId.empty())
        badInput("the BPE vocabulary of '" + dir.string() + "' is empty");
    const int64_t last = byId.rbegin()->first;
    v.tokens.assign(static_cast<size_t>(last + 1), std::string());
    v.types.assign(static_cast<size_t>(last + 1), kUnused);
    for (int64_t i = 0; i <= last; ++i)
        v.tokens[static_cast<size_t>(i)] = "[PAD" + std::to_string(i) + "]";
    for (const auto& [id, tt] : byId) {
        v.tokens[static_cast<size_t>(id)] = tt.first;
        v.types[static_cast<size_t>(id)] = tt.second;
    }
    v.model = "gpt2";
}

}  // namespace

Vocabulary readVocabulary(const std::string& modelDir, int64_t vocabSize, int64_t bosId, int64_t eosId, bool addBos)
{
    const fs::path dir(modelDir);
    Vocabulary v;
    if (fs::exists(dir / "tokenizer.json"))
        readByteLevelBpe(dir, v);
    else if (fs::exists(dir / "tokenizer.model"))
        readSentencePiece(dir / "tokenizer.model", v);
    else if (fs::exists(dir / "vocab.json") && fs::exists(dir / "merges.txt"))
        readByteLevelBpe(dir, v);
    else
        badInput("'" + modelDir + "' has no tokenizer (tokenizer.json, tokenizer.model or vocab.json + merges.txt) "
                 "to embed in the GGUF file");
    if (static_cast<int64_t>(v.tokens.size()) > vocabSize)
        badInput("the tokenizer of '" + modelDir + "' has " + std::to_string(v.tokens.size()) +
                 " tokens but the model only " + std::to_string(vocabSize) +
                 " embedding rows; llama.cpp needs one row per token");
    while (static_cast<int64_t>(v.tokens.size()) < vocabSize) {
        v.tokens.push_back("[PAD" + std::to_string(v.tokens.size()) + "]");
        v.types.push_back(kUnused);
        if (!v.scores.empty())
            v.scores.push_back(-1000.0f);
    }
    auto inRange = [&](int64_t id) { return id >= 0 && id < vocabSize; };
    v.bosId = inRange(bosId) ? bosId : -1;
    v.eosId = inRange(eosId) ? eosId : -1;
    v.addBos = addBos && v.bosId >= 0;
    if (!inRange(v.unkId))
        v.unkId = -1;
    if (!inRange(v.padId))
        v.padId = -1;
    if (v.model == "llama" && v.unkId >= 0)
        v.types[static_cast<size_t>(v.unkId)] = kUnknown;
    return v;
}

void addVocabulary(Metadata& md, const Vocabulary& v)
{
    md.setString("tokenizer.ggml.model", v.model);
    md.setString("tokenizer.ggml.pre", v.pre);
    md.setStrings("tokenizer.ggml.tokens", v.tokens);
    if (!v.scores.empty())
        md.setF32s("tokenizer.ggml.scores", v.scores);
    md.setI32s("tokenizer.ggml.token_type", v.types);
    if (!v.merges.empty())
        md.setStrings("tokenizer.ggml.merges", v.merges);
    if (v.bosId >= 0)
        md.setU32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bosId));
    if (v.eosId >= 0)
        md.setU32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eosId));
    if (v.unkId >= 0)
        md.setU32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(v.unkId));
    if (v.padId >= 0)
        md.setU32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(v.padId));
    md.setBool("tokenizer.ggml.add_bos_token", v.addBos);
    md.setBool("tokenizer.ggml.add_eos_token", v.addEos);
    if (v.model == "llama") {
        md.setBool("tokenizer.ggml.add_space_prefix", v.addSpacePrefix);
        md.setBool("tokenizer.ggml.remove_extra_whitespaces", v.removeExtraWhitespaces);
    }
}

}  // namespace aq::detail::gguf
