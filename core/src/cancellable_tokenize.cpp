#include "cancellable_tokenize.h"

#include "aq/error.h"

#include <algorithm>
#include <string>

namespace aq::detail {

namespace {

bool isSpaceByte(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/// How a cut at a space splits the text: the space starts the next piece, or is dropped.
enum class Cut { Unknown, KeepSpace, DropSpace };

constexpr size_t kContext = 64;  // bytes of each neighbouring word that the check encodes

/// Whether a cut at text[i] (a space between two non-space bytes) reproduces the joint encoding of the neighbouring
/// words, trying `preferred` first. Returns the kind of cut that works, or Unknown.
Cut checkCut(const Tokenizer& tok, std::string_view text, size_t i, Cut preferred)
{
    size_t a = i;
    while (a > 0 && i - a < kContext && !isSpaceByte(text[a - 1]))
        --a;
    size_t b = i + 1;
    while (b < text.size() && b - i - 1 < kContext && !isSpaceByte(text[b]))
        ++b;
    // Words longer than the context are not cut around: the check would not see their start or end.
    if ((a > 0 && !isSpaceByte(text[a - 1])) || (b < text.size() && !isSpaceByte(text[b])))
        return Cut::Unknown;
    const std::string_view left = text.substr(a, i - a), right = text.substr(i + 1, b - i - 1);
    const std::vector<int32_t> whole = tok.encode(text.substr(a, b - a));
    const std::vector<int32_t> head = tok.encode(left);
    if (head.size() > whole.size() || !std::equal(head.begin(), head.end(), whole.begin()))
        return Cut::Unknown;
    auto matches = [&](Cut c) {
        const std::vector<int32_t> tail = tok.encode(c == Cut::KeepSpace ? text.substr(i, b - i) : right);
        return head.size() + tail.size() == whole.size() && std::equal(tail.begin(), tail.end(), whole.begin() + head.size());
    };
    if (preferred != Cut::Unknown && matches(preferred))
        return preferred;
    for (const Cut c : {Cut::DropSpace, Cut::KeepSpace})
        if (c != preferred && matches(c))
            return c;
    return Cut::Unknown;
}

}  // namespace

void throwIfCancelled(const std::atomic<bool>* cancel, const char* what)
{
    if (cancel && cancel->load())
        throw Error(ErrorCode::Cancelled, std::string(what) + " cancelled");
}

std::vector<int32_t> encodeForModelCancellable(const Tokenizer& tok, std::string_view text,
                                               const std::atomic<bool>* cancel, size_t pieceBytes)
{
    throwIfCancelled(cancel, "tokenization");
    if (text.size() <= pieceBytes || !cancel)
        return tok.encodeForModel(text);
    checkUtf8(text, "text to tokenize");  // offsets in the message count from the start of the whole text
    std::vector<int32_t> ids;
    ids.reserve(text.size() / 3 + 8);
    if (tok.addBos() && tok.bosId() >= 0)
        ids.push_back(tok.bosId());
    Cut cut = Cut::Unknown;
    int failedChecks = 0;
    size_t start = 0;
    while (start < text.size()) {
        throwIfCancelled(cancel, "tokenization");
        size_t end = text.size();  // one piece for the rest unless a cut is found
        size_t next = text.size();
        // Look for a cut after pieceBytes: a single space between two non-space bytes whose check passes. After
        // repeated failed checks the tokenizer is taken not to split at spaces, and the rest is encoded at once.
        for (size_t i = start + pieceBytes; i + 1 < text.size() && failedChecks < 16; ++i) {
            if (text[i] != ' ' || isSpaceByte(text[i - 1]) || isSpaceByte(text[i + 1]))
                continue;
            const Cut c = checkCut(tok, text, i, cut);
            if (c == Cut::Unknown) {
                ++failedChecks;
                i += 1024;  // try again a little further on
                continue;
            }
            cut = c;
            end = i;
            next = c == Cut::KeepSpace ? i : i + 1;
            break;
        }
        const std::vector<int32_t> part = tok.encode(text.substr(start, end - start));
        ids.insert(ids.end(), part.begin(), part.end());
        start = next;
    }
    throwIfCancelled(cancel, "tokenization");
    return ids;
}

}  // namespace aq::detail
