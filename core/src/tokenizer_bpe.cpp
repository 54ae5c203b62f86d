// Byte-level BPE tokenizers: GPT-2 style `vocab.json` + `merges.txt`, and Hugging Face `tokenizer.json` files whose
// model is BPE over a ByteLevel pre-tokenizer (GPT-2, OPT, RoBERTa, LLaMA-3, Qwen2, ...).
//
// Encoding runs in three stages:
//  1. pre-tokenization: a regex (PCRE2 in UTF + Unicode-property mode, so that \p{L}, \s and friends follow Unicode
//     like the Python `regex` module and Oniguruma do) splits the text into words;
//  2. each word's bytes become their single-byte tokens (the ByteLevel alphabet maps every byte to a printable
//     character, so vocabularies store bytes as text);
//  3. merges are applied by rank. Merges are looked up by the pair of token ids, so the merge loop never builds or
//     hashes strings, and a per-word cache makes repeated words free.
#include "aq/tokenizer.h"

#include "aq/error.h"
#include "jsonutil.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <queue>
#include <shared_mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace aq {
namespace {

using Json = nlohmann::json;

/// The GPT-2 pre-tokenizer pattern (contractions, letters, numbers, other symbols, whitespace).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

/// Entries above this many words are dropped from the per-word cache at once; it only bounds memory on huge,
/// highly varied inputs (the wikitext-2 test set has about 30k distinct words).
constexpr size_t kMaxCachedWords = 1u << 18;

void appendUtf8(std::string& out, uint32_t cp)
{
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

/// GPT-2's reversible byte -> character table: printable Latin-1 bytes stand for themselves, the remaining bytes
/// (controls, space, DEL, NBSP, soft hyphen...) are shifted to U+0100 onwards so that no token contains whitespace.
const std::array<std::string, 256>& byteLevelAlphabet()
{
    static const std::array<std::string, 256> table = [] {
        std::array<std::string, 256> t;
        uint32_t shifted = 0;
        for (uint32_t b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            appendUtf8(t[b], printable ? b : 256 + shifted++);
        }
        return t;
    }();
    return table;
}

std::string toByteLevel(std::string_view raw)
{
    const auto& alphabet = byteLevelAlphabet();
    std::string out;
    out.reserve(raw.size() * 2);
    for (unsigned char c : raw)
        out += alphabet[c];
    return out;
}

/// Bounds on the work a pre-tokenizer regex may do on one text (see Pcre2Regex::splitIsolated).
constexpr size_t kMatchWindow = 4096;           ///< bytes of text a first match attempt may look at
constexpr size_t kLookaheadMargin = 64;         ///< a match ending this close to a window's end is redone wider
constexpr uint32_t kFirstMatchLimit = 10000;    ///< PCRE2 match limit (backtracking steps) of a first attempt
constexpr uint64_t kMatchStepsPerByte = 100;    ///< budget for wider or longer attempts, per byte of text
constexpr uint64_t kMatchStepsBase = 1000000;   ///< and a fixed part, for short texts

/// A compiled PCRE2 pattern, shared read-only between threads (match data is per call).
class Pcre2Regex {
public:
    Pcre2Regex(const std::string& pattern, bool literal, const std::string& origin) : m_origin(origin)
    {
        int errorCode = 0;
        PCRE2_SIZE errorOffset = 0;
        // UCP makes \s, \w, \d and POSIX classes Unicode-aware, as in the reference implementations.
        // LITERAL (for plain-string Split patterns) may not be combined with UCP.
        const uint32_t options = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
        m_code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &errorCode,
                               &errorOffset, nullptr);
        if (!m_code)
            badInput(origin + ": cannot compile the pre-tokenizer regex (" + errorMessage(errorCode) +
                     " at offset " + std::to_string(errorOffset) + ")");
        // JIT is only a speed-up: pcre2_match() uses it when compilation succeeded and interprets otherwise.
        // Both modes: attempts on a window of the text use hard partial matching (see splitIsolated()).
        pcre2_jit_compile(m_code, PCRE2_JIT_COMPLETE | PCRE2_JIT_PARTIAL_HARD);
    }
    ~Pcre2Regex() { pcre2_code_free(m_code); }
    Pcre2Regex(const Pcre2Regex&) = delete;
    Pcre2Regex& operator=(const Pcre2Regex&) = delete;

    /// Match data sized for this pattern; one per thread and call.
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> newMatchData() const
    {
        auto* md = pcre2_match_data_create_from_pattern(m_code, nullptr);
        if (!md)
            throw Error(ErrorCode::OutOfMemory, "out of memory for regex match data");
        return {md, &pcre2_match_data_free};
    }

    /// Splits `text` (valid UTF-8) like the "Isolated" split behaviour: every match and every non-empty stretch
    /// between matches becomes a piece, in order, so no byte is lost.
    ///
    /// The work is bounded, because some patterns take quadratic time or worse: `a*b|a` scans the rest of the text
    /// at every position (seconds on 100 KB, minutes on 1 MB); nested repetitions backtrack exponentially. Two
    /// limits apply to every match attempt, and neither changes what is matched:
    ///  - a window: the attempt sees the text up to kMatchWindow bytes ahead, with PCRE2_PARTIAL_HARD, so PCRE2 says
    ///    when the end of the window was reached and more text could change the result; such an attempt (or a match
    ///    ending within kLookaheadMargin of the window's end) is redone with twice the window;
    ///  - PCRE2's match limit (backtracking steps), doubled when an attempt hits it.
    /// Every redo pays the size of what it outgrew out of `budget`, which is proportional to the length of the text
    /// (matchBudget()). Ordinary pre-tokenizer patterns need a few bytes and steps per word and never come near it;
    /// a pattern that spends it is refused as bad input naming the tokenizer file. Total work is therefore linear in
    /// the text. (Cutting the text into chunks instead would change the result; JIT stack and depth limits bound
    /// memory, not time.)
    ///
    /// `budget` is shared by the calls that split one text and is spent here.
    template <typename Emit>
    void splitIsolated(std::string_view text, pcre2_match_data* md, pcre2_match_context* mc, uint64_t& budget,
                       Emit&& emit) const
    {
        const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
        const size_t len = text.size();
        size_t pos = 0;
        size_t gapStart = 0;
        auto spend = [&](uint64_t cost) {
            if (budget < cost)
                badInput(m_origin + ": the pre-tokenizer regex needs too much work on this text (its budget of " +
                         std::to_string(kMatchStepsPerByte) + " steps per byte ran out at byte " +
                         std::to_string(pos) + " of a " + std::to_string(len) +
                         "-byte piece); the pattern backtracks or rescans the text at every position (nested or "
                         "overlapping repetitions) and cannot split long texts in reasonable time");
            budget -= cost;
        };
        // A window end inside a UTF-8 sequence would hand PCRE2 a truncated character.
        auto windowEnd = [&](size_t from, size_t window) {
            if (window >= len - from)
                return len;
            size_t end = from + window;
            while (end > from && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
                --end;
            return end;
        };
        while (pos < len) {
            size_t window = kMatchWindow;
            uint32_t limit = kFirstMatchLimit;
            size_t stop = len;  // end of the text this attempt saw
            int rc = 0;
            for (;;) {
                stop = windowEnd(pos, window);
                const bool truncated = stop < len;
                // The text was validated once up front; without NO_UTF_CHECK, PCRE2 would re-validate the subject on
                // every call, which is quadratic over a long text.
                const uint32_t options = PCRE2_NO_UTF_CHECK | (truncated ? PCRE2_PARTIAL_HARD : 0u);
                pcre2_set_match_limit(mc, limit);
                rc = pcre2_match(m_code, subject, stop, pos, options, md, mc);
                if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
                    rc = pcre2_match(m_code, subject, stop, pos, options | PCRE2_NO_JIT, md, mc);
                if (rc == PCRE2_ERROR_MATCHLIMIT) {
                    spend(limit);
                    if (limit > UINT32_MAX / 2)
                        spend(UINT64_MAX);  // refuses, with the message above
                    limit *= 2;
                    continue;
                }
                if (truncated &&
                    (rc == PCRE2_ERROR_PARTIAL || (rc >= 0 && pcre2_get_ovector_pointer(md)[1] + kLookaheadMargin > stop))) {
                    spend(stop - pos);
                    window *= 2;
                    continue;
                }
                break;
            }
            if (rc == PCRE2_ERROR_NOMATCH) {
                if (stop == len)
                    break;
                // No match starts in this window (one starting near its end would have been reported as partial);
                // go on from shortly before the end.
                pos = std::max(pos + 1, stop - kLookaheadMargin);
                while (pos < len && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80)
                    ++pos;
                continue;
            }
            if (rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT)
                badInput(m_origin + ": the pre-tokenizer regex needs too much memory on this text (" +
                         errorMessage(rc) + " at byte " + std::to_string(pos) + ")");
            if (rc < 0)
                throw Error(ErrorCode::Internal, "pre-tokenizer regex failed: " + errorMessage(rc));
            const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(md);
            const size_t start = ovector[0];
            const size_t end = ovector[1];
            if (end == start) {
                // An empty match carries no text; step over one character so that the scan makes progress.
                pos = start + 1;
                while (pos < len && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80)
                    ++pos;
                continue;
            }
            if (start > gapStart)
                emit(text.substr(gapStart, start - gapStart));
            emit(text.substr(start, end - start));
            pos = gapStart = end;
        }
        if (gapStart < len)
            emit(text.substr(gapStart));
    }

private:
    static std::string errorMessage(int code)
    {
        PCRE2_UCHAR buffer[256];
        if (pcre2_get_error_message(code, buffer, sizeof buffer) < 0)
            return "PCRE2 error " + std::to_string(code);
        return reinterpret_cast<const char*>(buffer);
    }

    pcre2_code* m_code = nullptr;
    std::string m_origin;
};

/// The match-step budget of Pcre2Regex::splitIsolated() for splitting a text of `bytes` bytes.
uint64_t matchBudget(size_t bytes)
{
    return kMatchStepsBase + kMatchStepsPerByte * uint64_t(bytes);
}

/// A match context for Pcre2Regex::splitIsolated(); one per call, like match data.
std::unique_ptr<pcre2_match_context, decltype(&pcre2_match_context_free)> newMatchContext()
{
    auto* mc = pcre2_match_context_create(nullptr);
    if (!mc)
        throw Error(ErrorCode::OutOfMemory, "out of memory for a regex match context");
    return {mc, &pcre2_match_context_free};
}

/// One stage of byte-level pre-tokenization: optionally prepend a space to every piece (ByteLevel's
/// add_prefix_space), then optionally split every piece with a regex.
struct PreTokenizerStep {
    bool addPrefixSpace = false;
    std::shared_ptr<const Pcre2Regex> regex;
};

struct TransparentHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

/// Everything a byte-level BPE tokenizer needs, gathered by the two file-format readers below.
struct BpeSpec {
    std::unordered_map<std::string, int32_t> vocab;  ///< token text (ByteLevel alphabet) -> id
    std::vector<std::pair<std::string, std::string>> merges;  ///< in rank order
    std::vector<std::string> mergeOrigins;  ///< where each merge came from, for error messages
    std::vector<PreTokenizerStep> steps;
    bool ignoreMerges = false;
    int32_t unkId = -1;
    int32_t templateBosId = -1;  ///< tokenizer.json post-processor's leading special token, if any
    std::string kind;            ///< for describe()
    std::string notes;           ///< appended to describe()
    std::string origin;          ///< file name(s) for error messages
};

class ByteLevelBpeTokenizer final : public Tokenizer {
public:
    explicit ByteLevelBpeTokenizer(BpeSpec spec)
        : m_vocab(std::move(spec.vocab)),
          m_steps(std::move(spec.steps)),
          m_ignoreMerges(spec.ignoreMerges),
          m_unkId(spec.unkId),
          m_templateBosId(spec.templateBosId)
    {
        for (const auto& [token, id] : m_vocab)
            m_vocabSize = std::max<int64_t>(m_vocabSize, int64_t(id) + 1);

        const auto& alphabet = byteLevelAlphabet();
        int missingBytes = 0;
        for (int b = 0; b < 256; ++b) {
            const auto it = m_vocab.find(alphabet[b]);
            m_byteIds[b] = it == m_vocab.end() ? -1 : it->second;
            missingBytes += it == m_vocab.end();
        }

        m_merges.reserve(spec.merges.size());
        for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
            const auto& [left, right] = spec.merges[rank];
            const int32_t leftId = tokenId(left);
            const int32_t rightId = tokenId(right);
            const int32_t mergedId = tokenId(left + right);
            if (leftId < 0 || rightId < 0 || mergedId < 0)
                badInput(spec.origin + ": merge \"" + left + " " + right + "\" (" + spec.mergeOrigins[rank] +
                         ") uses a token that is not in the vocabulary");
            // A repeated pair keeps its first (best) rank.
            m_merges.try_emplace(pairKey(leftId, rightId), Merge{int32_t(rank), mergedId});
        }

        m_description = spec.kind + " (" + std::to_string(m_vocabSize) + " tokens, " +
                        std::to_string(m_merges.size()) + " merges" + spec.notes;
        if (missingBytes > 0)
            m_description += ", " + std::to_string(missingBytes) + " bytes without a token";
        m_description += ")";
    }

    std::vector<int32_t> encode(std::string_view text) const override
    {
        checkUtf8(text, "text to tokenize");
        std::vector<int32_t> ids;
        ids.reserve(text.size() / 3 + 4);
        forEachWord(text, [&](std::string_view word) { appendWord(word, ids); });
        return ids;
    }

    int64_t vocabSize() const override { return m_vocabSize; }
    std::string describe() const override { return m_description; }

    int32_t tokenId(const std::string& token) const
    {
        const auto it = m_vocab.find(token);
        return it == m_vocab.end() ? -1 : it->second;
    }
    int32_t templateBosId() const { return m_templateBosId; }

private:
    struct Merge {
        int32_t rank;
        int32_t mergedId;
    };

    static uint64_t pairKey(int32_t left, int32_t right)
    {
        return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
    }

    template <typename Fn>
    void forEachWord(std::string_view text, Fn&& fn) const
    {
        // Fast path: a single regex stage (GPT-2 and most tokenizer.json files) streams words with no copies.
        if (m_steps.size() == 1 && !m_steps[0].addPrefixSpace && m_steps[0].regex) {
            auto md = m_steps[0].regex->newMatchData();
            auto mc = newMatchContext();
            uint64_t budget = matchBudget(text.size());
            m_steps[0].regex->splitIsolated(text, md.get(), mc.get(), budget, fn);
            return;
        }
        std::vector<std::string_view> pieces{text};
        std::deque<std::string> owned;  // pieces that got a prefix space; deque keeps the views stable
        for (const auto& step : m_steps) {
            if (step.addPrefixSpace) {
                for (auto& piece : pieces) {
                    if (!piece.empty() && piece.front() != ' ') {
                        owned.push_back(" " + std::string(piece));
                        piece = owned.back();
                    }
                }
            }
            if (step.regex) {
                auto md = step.regex->newMatchData();
                auto mc = newMatchContext();
                uint64_t budget = matchBudget(text.size() + owned.size());  // one budget for all pieces of the text
                std::vector<std::string_view> split;
                split.reserve(pieces.size());
                for (auto piece : pieces)
                    step.regex->splitIsolated(piece, md.get(), mc.get(), budget,
                                              [&](std::string_view p) { split.push_back(p); });
                pieces = std::move(split);
            }
        }
        for (auto piece : pieces)
            if (!piece.empty())
                fn(piece);
    }

    void appendWord(std::string_view word, std::vector<int32_t>& ids) const
    {
        if (word.size() == 1) {
            appendByte(static_cast<unsigned char>(word[0]), ids);
            return;
        }
        {
            std::shared_lock lock(m_cacheMutex);
            const auto it = m_cache.find(word);
            if (it != m_cache.end()) {
                ids.insert(ids.end(), it->second.begin(), it->second.end());
                return;
            }
        }
        std::vector<int32_t> wordIds = mergeWord(word);
        ids.insert(ids.end(), wordIds.begin(), wordIds.end());
        std::unique_lock lock(m_cacheMutex);
        if (m_cache.size() >= kMaxCachedWords)
            m_cache.clear();
        m_cache.emplace(std::string(word), std::move(wordIds));
    }

    void appendByte(unsigned char byte, std::vector<int32_t>& ids) const
    {
        // Byte-level vocabularies cover all 256 bytes; for one that does not, use the unknown token when there is
        // one and otherwise drop the byte, as the reference implementation does.
        if (m_byteIds[byte] >= 0)
            ids.push_back(m_byteIds[byte]);
        else if (m_unkId >= 0)
            ids.push_back(m_unkId);
    }

    /// Applies the merges to one word. Symbols form a doubly linked list over the word's bytes; a min-heap holds
    /// candidate pairs ordered by (rank, position), and stale candidates (a side already merged into something
    /// else) are recognised and skipped when popped. That is O(n log n) per word, where rescanning all pairs after
    /// every merge would be quadratic on long words (runs of digits, punctuation or base64).
    std::vector<int32_t> mergeWord(std::string_view word) const
    {
        if (m_ignoreMerges) {
            const auto it = m_vocab.find(toByteLevel(word));
            if (it != m_vocab.end())
                return {it->second};
        }

        struct Symbol {
            int32_t id;
            int32_t prev;
            int32_t next;
        };
        std::vector<Symbol> symbols;
        symbols.reserve(word.size());
        for (unsigned char c : word) {
            if (m_byteIds[c] < 0) {
                // Kept out of the merge list; see appendByte().
                continue;
            }
            const int32_t index = int32_t(symbols.size());
            symbols.push_back({m_byteIds[c], index - 1, index + 1});
        }
        if (symbols.size() != word.size())
            return mergeWordWithGaps(word);
        if (!symbols.empty())
            symbols.back().next = -1;

        struct Candidate {
            int32_t rank;
            int32_t left;
            int32_t right;
            int32_t leftId;
            int32_t rightId;
            int32_t mergedId;
            bool operator>(const Candidate& o) const
            {
                return rank != o.rank ? rank > o.rank : left > o.left;
            }
        };
        std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
        auto consider = [&](int32_t left) {
            if (left < 0)
                return;
            const int32_t right = symbols[left].next;
            if (right < 0)
                return;
            const auto it = m_merges.find(pairKey(symbols[left].id, symbols[right].id));
            if (it != m_merges.end())
                queue.push({it->second.rank, left, right, symbols[left].id, symbols[right].id, it->second.mergedId});
        };
        for (int32_t i = 0; i + 1 < int32_t(symbols.size()); ++i)
            consider(i);

        while (!queue.empty()) {
            const Candidate c = queue.top();
            queue.pop();
            Symbol& left = symbols[c.left];
            if (left.id != c.leftId || left.next != c.right || symbols[c.right].id != c.rightId)
                continue;  // stale
            Symbol& right = symbols[c.right];
            left.id = c.mergedId;
            left.next = right.next;
            if (right.next >= 0)
                symbols[right.next].prev = c.left;
            right.id = -1;
            consider(left.prev);
            consider(c.left);
        }

        std::vector<int32_t> out;
        for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next)
            out.push_back(symbols[i].id);
        return out;
    }

    /// Rare path for vocabularies lacking some byte tokens: merge each run of mappable bytes separately.
    std::vector<int32_t> mergeWordWithGaps(std::string_view word) const
    {
        std::vector<int32_t> out;
        size_t runStart = 0;
        for (size_t i = 0; i <= word.size(); ++i) {
            if (i < word.size() && m_byteIds[static_cast<unsigned char>(word[i])] >= 0)
                continue;
            if (i > runStart) {
                const auto part = mergeWord(word.substr(runStart, i - runStart));
                out.insert(out.end(), part.begin(), part.end());
            }
            if (i < word.size())
                appendByte(static_cast<unsigned char>(word[i]), out);
            runStart = i + 1;
        }
        return out;
    }

    std::unordered_map<std::string, int32_t> m_vocab;
    std::unordered_map<uint64_t, Merge> m_merges;
    std::array<int32_t, 256> m_byteIds{};
    std::vector<PreTokenizerStep> m_steps;
    bool m_ignoreMerges = false;
    int32_t m_unkId = -1;
    int32_t m_templateBosId = -1;
    int64_t m_vocabSize = 0;
    std::string m_description;

    // The word cache is the only mutable state; encode() is const and may run on several threads.
    mutable std::shared_mutex m_cacheMutex;
    mutable std::unordered_map<std::string, std::vector<int32_t>, TransparentHash, std::equal_to<>> m_cache;
};

// ---- reading the files ------------------------------------------------------------------------------------------

void readVocabObject(const Json& vocab, const std::string& origin, std::unordered_map<std::string, int32_t>& out)
{
    if (!vocab.is_object())
        badInput(origin + ": the vocabulary is not a JSON object of token -> id");
    out.reserve(vocab.size());
    for (const auto& [token, id] : vocab.items()) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
            badInput(origin + ": token \"" + token + "\" has an invalid id " + id.dump());
        out.emplace(token, int32_t(id.get<int64_t>()));
    }
    if (out.empty())
        badInput(origin + ": the vocabulary is empty");
}

std::string jsonString(const Json& j, const char* key, const std::string& fallback = {})
{
    const auto it = j.find(key);
    return (it != j.end() && it->is_string()) ? it->get<std::string>() : fallback;
}

bool jsonBool(const Json& j, const char* key, bool fallback)
{
    const auto it = j.find(key);
    return (it != j.end() && it->is_boolean()) ? it->get<bool>() : fallback;
}

/// Turns a tokenizer.json pre_tokenizer into steps. Accepts ByteLevel, Split (Isolated, not inverted) and Sequences
/// of them, which covers GPT-2/RoBERTa/OPT and the LLaMA-3/Qwen2 layout Sequence[Split(regex), ByteLevel(no regex)].
void addPreTokenizer(const Json& pre, const std::string& origin, std::vector<PreTokenizerStep>& steps,
                     bool& sawByteLevel)
{
    if (!pre.is_object())
        badInput(origin + ": pre_tokenizer is not an object");
    const std::string type = jsonString(pre, "type");
    if (type == "Sequence") {
        const auto it = pre.find("pretokenizers");
        if (it == pre.end() || !it->is_array())
            badInput(origin + ": Sequence pre_tokenizer without a \"pretokenizers\" list");
        for (const auto& inner : *it)
            addPreTokenizer(inner, origin, steps, sawByteLevel);
    } else if (type == "ByteLevel") {
        sawByteLevel = true;
        PreTokenizerStep step;
        step.addPrefixSpace = jsonBool(pre, "add_prefix_space", false);
        if (jsonBool(pre, "use_regex", true))
            step.regex = std::make_shared<Pcre2Regex>(kGpt2Pattern, false, origin);
        steps.push_back(std::move(step));
    } else if (type == "Split") {
        const std::string behavior = jsonString(pre, "behavior", "Isolated");
        if (behavior != "Isolated")
            badInput(origin + ": Split pre_tokenizer behaviour \"" + behavior +
                     "\" is not supported (only \"Isolated\")");
        if (jsonBool(pre, "invert", false))
            badInput(origin + ": inverted Split pre_tokenizer is not supported");
        const auto pattern = pre.find("pattern");
        if (pattern == pre.end() || !pattern->is_object())
            badInput(origin + ": Split pre_tokenizer without a pattern");
        PreTokenizerStep step;
        if (pattern->contains("Regex") && (*pattern)["Regex"].is_string())
            step.regex = std::make_shared<Pcre2Regex>((*pattern)["Regex"].get<std::string>(), false, origin);
        else if (pattern->contains("String") && (*pattern)["String"].is_string())
            step.regex = std::make_shared<Pcre2Regex>((*pattern)["String"].get<std::string>(), true, origin);
        else
            badInput(origin + ": Split pre_tokenizer pattern must be {\"Regex\": ...} or {\"String\": ...}");
        steps.push_back(std::move(step));
    } else {
        badInput(origin + ": pre_tokenizer type \"" + type +
                 "\" is not supported (supported: ByteLevel, Split, Sequence of these)");
    }
}

/// The id of the special token a post-processor puts in front of every single sequence (the BOS), or -1.
int32_t templateBosId(const Json& post)
{
    if (!post.is_object())
        return -1;
    const std::string type = jsonString(post, "type");
    if (type == "Sequence") {
        const auto it = post.find("processors");
        if (it != post.end() && it->is_array())
            for (const auto& inner : *it)
                if (const int32_t id = templateBosId(inner); id >= 0)
                    return id;
        return -1;
    }
    if (type == "RobertaProcessing" || type == "BertProcessing") {
        // "cls": ["<s>", 0]
        const auto it = post.find("cls");
        if (it != post.end() && it->is_array() && it->size() == 2 && (*it)[1].is_number_integer())
            return (*it)[1].get<int32_t>();
        return -1;
    }
    if (type != "TemplateProcessing")
        return -1;
    const auto single = post.find("single");
    if (single == post.end() || !single->is_array() || single->empty())
        return -1;
    const Json& first = (*single)[0];
    if (!first.is_object() || !first.contains("SpecialToken"))
        return -1;
    const std::string name = jsonString(first["SpecialToken"], "id");
    const auto specials = post.find("special_tokens");
    if (name.empty() || specials == post.end() || !specials->is_object() || !specials->contains(name))
        return -1;
    const Json& special = (*specials)[name];
    const auto ids = special.find("ids");
    if (ids == special.end() || !ids->is_array() || ids->empty() || !(*ids)[0].is_number_integer())
        return -1;
    return (*ids)[0].get<int32_t>();
}

}  // namespace

std::unique_ptr<Tokenizer> loadGpt2Bpe(const std::string& vocabJsonPath, const std::string& mergesPath)
{
    BpeSpec spec;
    spec.kind = "GPT-2 byte-level BPE";
    spec.origin = vocabJsonPath + " + " + mergesPath;
    readVocabObject(detail::readJsonFile(vocabJsonPath, "vocabulary"), vocabJsonPath, spec.vocab);

    const std::string merges = detail::readTextFile(mergesPath, "merges file");
    std::istringstream lines(merges);
    std::string line;
    for (size_t lineNo = 1; std::getline(lines, line); ++lineNo) {
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (line.empty() || (lineNo == 1 && line.rfind("#version", 0) == 0))
            continue;
        const size_t space = line.find(' ');
        if (space == std::string::npos || space == 0 || space + 1 == line.size() ||
            line.find(' ', space + 1) != std::string::npos)
            badInput(mergesPath + " line " + std::to_string(lineNo) + ": expected two tokens separated by a space");
        spec.merges.emplace_back(line.substr(0, space), line.substr(space + 1));
        spec.mergeOrigins.push_back("line " + std::to_string(lineNo));
    }
    if (spec.merges.empty())
        badInput(mergesPath + ": no merges found");

    PreTokenizerStep step;
    step.regex = std::make_shared<Pcre2Regex>(kGpt2Pattern, false, spec.origin);
    spec.steps.push_back(std::move(step));
    return std::make_unique<ByteLevelBpeTokenizer>(std::move(spec));
}

std::unique_ptr<Tokenizer> loadHfTokenizerJson(const std::string& tokenizerJsonPath)
{
    const std::string& origin = tokenizerJsonPath;
    const Json root = detail::readJsonFile(tokenizerJsonPath, "tokenizer");
    if (!root.is_object() || !root.contains("model") || !root["model"].is_object())
        badInput(origin + ": not a Hugging Face tokenizer.json (no \"model\" object)");
    const Json& model = root["model"];

    // Files written by old versions of `tokenizers` may omit the type; BPE is the only model with merges.
    const std::string type = jsonString(model, "type", model.contains("merges") ? "BPE" : "");
    if (type != "BPE")
        badInput(origin + ": tokenizer model type \"" + (type.empty() ? std::string("(none)") : type) +
                 "\" is not supported (only byte-level BPE is; use tokenizer.model for sentencepiece models)");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
        if (!jsonString(model, key).empty())
            badInput(origin + ": BPE option \"" + key + "\" is not supported");

    BpeSpec spec;
    spec.kind = "tokenizer.json byte-level BPE";
    spec.origin = origin;
    spec.ignoreMerges = jsonBool(model, "ignore_merges", false);
    if (!model.contains("vocab"))
        badInput(origin + ": model has no vocab");
    readVocabObject(model["vocab"], origin, spec.vocab);

    if (!model.contains("merges") || !model["merges"].is_array())
        badInput(origin + ": model has no merges list");
    const Json& merges = model["merges"];
    spec.merges.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
        const Json& m = merges[i];
        // Older files write "a b"; newer ones write ["a", "b"], which also allows tokens containing spaces.
        if (m.is_string()) {
            const std::string s = m.get<std::string>();
            const size_t space = s.find(' ');
            if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
                badInput(origin + ": merge " + std::to_string(i) + " \"" + s + "\" is not two tokens");
            spec.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            spec.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
        } else {
            badInput(origin + ": merge " + std::to_string(i) + " is neither \"a b\" nor [\"a\", \"b\"]");
        }
        spec.mergeOrigins.push_back("merge " + std::to_string(i));
    }

    // Added tokens (specials such as <|endoftext|> or <|begin_of_text|>) often live outside model.vocab; they are
    // registered so that BOS/EOS names resolve. They are not matched inside the text: encode() treats text as text.
    if (const auto added = root.find("added_tokens"); added != root.end() && added->is_array()) {
        for (const auto& t : *added)
            if (t.is_object() && t.contains("content") && t["content"].is_string() && t.contains("id") &&
                t["id"].is_number_integer())
                spec.vocab.try_emplace(t["content"].get<std::string>(), t["id"].get<int32_t>());
    }

    if (const std::string unk = jsonString(model, "unk_token"); !unk.empty())
        if (const auto it = spec.vocab.find(unk); it != spec.vocab.end())
            spec.unkId = it->second;

    if (const auto norm = root.find("normalizer"); norm != root.end() && !norm->is_null()) {
        const std::string normType = norm->is_object() ? jsonString(*norm, "type") : std::string();
        if (normType == "NFC") {
            // Qwen2-style files ask for NFC. Text that is already NFC (nearly all real text) is unchanged by it,
            // and core has no Unicode normalization tables, so it is skipped; describe() says so.
            spec.notes = ", NFC normalizer not applied";
        } else {
            badInput(origin + ": normalizer \"" + (normType.empty() ? norm->dump() : normType) +
                     "\" is not supported with byte-level BPE");
        }
    }

    bool sawByteLevel = false;
    if (const auto pre = root.find("pre_tokenizer"); pre != root.end() && !pre->is_null())
        addPreTokenizer(*pre, origin, spec.steps, sawByteLevel);
    if (!sawByteLevel)
        badInput(origin + ": only byte-level BPE is supported, and this file has no ByteLevel pre_tokenizer "
                          "(sentencepiece-style BPE: use the model's tokenizer.model instead)");

    if (const auto post = root.find("post_processor"); post != root.end())
        spec.templateBosId = templateBosId(*post);

    return std::make_unique<ByteLevelBpeTokenizer>(std::move(spec));
}

namespace detail {

// Hooks for loadTokenizer() (tokenizer.cpp). Each returns false when `tok` is not a byte-level BPE tokenizer.

bool byteLevelBpeLookup(const Tokenizer& tok, const std::string& token, int32_t& id)
{
    const auto* bpe = dynamic_cast<const ByteLevelBpeTokenizer*>(&tok);
    if (!bpe)
        return false;
    id = bpe->tokenId(token);
    return true;
}

bool byteLevelBpeTemplateBos(const Tokenizer& tok, int32_t& bos)
{
    const auto* bpe = dynamic_cast<const ByteLevelBpeTokenizer*>(&tok);
    if (!bpe)
        return false;
    bos = bpe->templateBosId();
    return true;
}

}  // namespace detail
}  // namespace aq
