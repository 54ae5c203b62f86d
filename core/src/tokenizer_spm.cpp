// Sentencepiece tokenizer (`tokenizer.model`), reached through the aq_spm shim.
//
// Core must not link libsentencepiece (its bundled protobuf clashes with LibTorch's, see core/spm/aq_spm.cpp), so the
// shim is opened here with dlopen() and used through its small C interface.
#include "aq/tokenizer.h"

#include "aq/error.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#ifndef AQ_SPM_SHIM_NAME
#define AQ_SPM_SHIM_NAME "libaq_spm.so"
#endif

// Sanitizer runtimes intercept dlopen() and abort on RTLD_DEEPBIND; sanitized builds (the asan preset) reach
// glibc's own dlopen instead, see openLibrary().
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define AQ_SPM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define AQ_SPM_SANITIZED 1
#endif
#endif

namespace aq {
namespace {

// Status codes of the shim (core/spm/aq_spm.cpp).
enum : int {
    kShimOk = 0,
    kShimBufferTooSmall = 4,
    kShimOutOfMemory = 5,
};
constexpr int kShimAbiVersion = 1;
constexpr size_t kErrLen = 1024;

/// The shim's entry points. Resolved once per process; the library is never closed because tokenizers created from
/// it may live until exit.
struct ShimApi {
    std::string path;
    void* (*load)(const char*, char*, size_t) = nullptr;
    void (*release)(void*) = nullptr;
    int (*encode)(void*, const char*, size_t, int32_t*, size_t, size_t*, char*, size_t) = nullptr;
    int (*pieceCount)(void*) = nullptr;
    int (*pieceToId)(void*, const char*) = nullptr;
    int (*specialId)(void*, int) = nullptr;
};

std::string executableDir()
{
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::string() : exe.parent_path().string();
}

/// Where to look for the shim, in order: an explicit override, next to the executable (the build tree puts programs
/// and libraries together in build/bin), the relative install location, then the configured install path.
std::vector<std::string> shimCandidates()
{
    if (const char* env = std::getenv("AQ_SPM_SHIM"); env && *env)
        return {env};  // an explicit override must not silently fall back to another copy
    std::vector<std::string> paths;
    const std::string dir = executableDir();
    if (!dir.empty()) {
        paths.push_back(dir + "/" AQ_SPM_SHIM_NAME);
        paths.push_back(dir + "/../lib/affinequant/" AQ_SPM_SHIM_NAME);
    }
#ifdef AQ_SPM_SHIM_INSTALLED
    paths.push_back(AQ_SPM_SHIM_INSTALLED);
#endif
    return paths;
}

template <typename Fn>
void resolve(void* lib, const char* name, Fn& fn, const std::string& path)
{
    fn = reinterpret_cast<Fn>(dlsym(lib, name));
    if (!fn)
        throw Error(ErrorCode::Internal,
                    "the sentencepiece shim " + path + " lacks the function " + name + " (stale build? rebuild aq_spm)");
}

void* openLibrary(const char* path)
{
    // RTLD_DEEPBIND: sentencepiece must bind to its own protobuf copy, not LibTorch's; RTLD_LOCAL keeps the shim's
    // symbols out of everybody else's way.
    constexpr int flags = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#ifdef AQ_SPM_SANITIZED
    // The sanitizer's dlopen interceptor refuses RTLD_DEEPBIND because a deep-bound library might bypass its malloc.
    // Loading without it crashes (the protobuf clash), so call glibc's dlopen directly; the shim's C interface
    // never passes ownership of memory across, which is what the interceptor protects against.
    using DlopenFn = void* (*)(const char*, int);
    static const DlopenFn libcDlopen = [] {
        void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
        auto* fn = libc ? reinterpret_cast<DlopenFn>(dlsym(libc, "dlopen")) : nullptr;
        return fn ? fn : &dlopen;
    }();
    return libcDlopen(path, flags);
#else
    return dlopen(path, flags);
#endif
}

ShimApi openShim()
{
    std::string tried;
    for (const auto& path : shimCandidates()) {
        void* lib = openLibrary(path.c_str());
        if (!lib) {
            const char* why = dlerror();
            tried += "\n  " + path + ": " + (why ? why : "unknown error");
            continue;
        }
        ShimApi api;
        api.path = path;
        int (*abiVersion)() = nullptr;
        resolve(lib, "aq_spm_abi_version", abiVersion, path);
        if (abiVersion() != kShimAbiVersion)
            throw Error(ErrorCode::Internal, "the sentencepiece shim " + path + " has interface version " +
                                                 std::to_string(abiVersion()) + ", expected " +
                                                 std::to_string(kShimAbiVersion) + " (rebuild or reinstall aq_spm)");
        resolve(lib, "aq_spm_load", api.load, path);
        resolve(lib, "aq_spm_free", api.release, path);
        resolve(lib, "aq_spm_encode", api.encode, path);
        resolve(lib, "aq_spm_piece_count", api.pieceCount, path);
        resolve(lib, "aq_spm_piece_to_id", api.pieceToId, path);
        resolve(lib, "aq_spm_special_id", api.specialId, path);
        return api;
    }
    throw Error(ErrorCode::Internal,
                "cannot load the sentencepiece shim " AQ_SPM_SHIM_NAME
                " needed for tokenizer.model files (set AQ_SPM_SHIM to its full path, or reinstall). Tried:" +
                    (tried.empty() ? std::string("\n  (no candidate path)") : tried));
}

/// Loads the shim on first use. A failed attempt is not cached, so a later call (for example after AQ_SPM_SHIM was
/// set) tries again; the function-local static makes concurrent first calls safe.
const ShimApi& shimApi()
{
    static const ShimApi api = openShim();
    return api;
}

// ---------------------------------------------------------------------------------------------------------------
// Checking what sentencepiece trusts.
//
// sentencepiece parses tokenizer.model with protobuf (which is robust) and builds its own trie from the pieces, but
// it takes the normalizer's precompiled character map as it is: a 32-bit length, a darts-clone double array of that
// many bytes, then a pool of NUL-terminated replacement strings. Encoding walks that array with no bounds checks,
// reads replacements at whatever offset a leaf holds, and collects at most 32 prefix matches into a stack array
// while counting every match it finds. A damaged map therefore crashes the process inside encode(), long after
// loading succeeded (and inside a library we cannot catch anything from).
//
// Two ways to survive that were possible: probe the model in a child process, or check the map before sentencepiece
// sees it. We check. A child process would mean fork() in a program that runs LibTorch and Qt threads (unsafe until
// exec) or shipping a helper executable, would cost a process start per load, and a probe that encodes some sample
// text proves nothing about other text. The check below instead follows every path the encoder can take through
// the array: from the root, every byte value, as commonPrefixSearch() does. It accepts any map sentencepiece's
// own builder writes (those only contain in-bounds paths) and refuses anything that could make the encoder read
// outside the array or the string pool, or overflow its result buffer.

/// Reads protobuf wire format, as much as these checks need. Every read is bounds-checked; `ok` turns false on
/// anything malformed.
class WireReader {
public:
    explicit WireReader(std::string_view data) : m_data(data) {}

    bool atEnd() const { return m_pos >= m_data.size(); }
    bool ok() const { return m_ok; }

    /// Reads the next field key. Returns false at the end or on malformed input.
    bool next(uint32_t& field, uint32_t& wireType)
    {
        if (!m_ok || atEnd())
            return false;
        uint64_t key = 0;
        if (!varint(key) || (key >> 3) == 0 || (key >> 3) > 0x1FFFFFFF)
            return fail();
        field = static_cast<uint32_t>(key >> 3);
        wireType = static_cast<uint32_t>(key & 7);
        return true;
    }

    /// A length-delimited payload (wire type 2).
    bool bytes(std::string_view& out)
    {
        uint64_t len = 0;
        if (!varint(len) || len > m_data.size() - m_pos)
            return fail();
        out = m_data.substr(m_pos, static_cast<size_t>(len));
        m_pos += static_cast<size_t>(len);
        return true;
    }

    /// Skips a field's payload of the given wire type (groups included, nested to a bounded depth).
    bool skip(uint32_t wireType, int depth = 0)
    {
        uint64_t ignored = 0;
        std::string_view ignoredBytes;
        switch (wireType) {
        case 0: return varint(ignored);
        case 1: return advance(8);
        case 2: return bytes(ignoredBytes);
        case 5: return advance(4);
        case 3: {  // start group: fields up to the matching end group
            if (depth > 64)
                return fail();
            uint32_t f = 0, w = 0;
            while (next(f, w)) {
                if (w == 4)
                    return true;
                if (!skip(w, depth + 1))
                    return false;
            }
            return fail();
        }
        default: return fail();  // an end group without a start, or wire types 6 and 7
        }
    }

private:
    bool fail()
    {
        m_ok = false;
        return false;
    }
    bool advance(size_t n)
    {
        if (n > m_data.size() - m_pos)
            return fail();
        m_pos += n;
        return true;
    }
    bool varint(uint64_t& value)
    {
        value = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (atEnd())
                return fail();
            const auto byte = static_cast<unsigned char>(m_data[m_pos++]);
            value |= uint64_t(byte & 0x7F) << shift;
            if (!(byte & 0x80))
                return true;
        }
        return fail();
    }

    std::string_view m_data;
    size_t m_pos = 0;
    bool m_ok = true;
};

/// Result buffer of sentencepiece's Normalizer::NormalizePrefix(): more prefix matches than this along one input
/// make it read past the end of a stack array.
constexpr int kMaxPrefixMatches = 32;

/// One precompiled character map under check: a 32-bit length, a trie of that many bytes of darts-clone units, then
/// the pool of NUL-terminated replacement strings.
struct CharsMap {
    std::string_view blob;
    const std::string& path;
    const char* which;
    const char* trie = nullptr;
    size_t units = 0;
    std::string_view pool = {};
    size_t lastNul = std::string_view::npos;  ///< the pool's last NUL: a replacement must start at or before it

    [[noreturn]] void refuse(const std::string& why) const
    {
        badInput("sentencepiece model " + path + " is corrupt: its " + which + " character map " + why +
                 " (re-download the tokenizer.model)");
    }
    uint32_t unitAt(size_t i) const
    {
        uint32_t u;
        std::memcpy(&u, trie + 4 * i, 4);  // little-endian, as written (big-endian hosts are not supported)
        return u;
    }
};

// The fields of a darts-clone unit.
uint32_t offsetOf(uint32_t u)
{
    return (u >> 10) << ((u & (1u << 9)) >> 6);
}
bool hasLeaf(uint32_t u)
{
    return ((u >> 8) & 1) != 0;
}
uint32_t labelOf(uint32_t u)
{
    return u & ((1u << 31) | 0xFFu);
}

/// Splits `blob` into its trie and string pool; refuses a map too short for its length, a trie that does not fit
/// and an empty trie.
CharsMap splitCharsMap(std::string_view blob, const std::string& path, const char* which)
{
    CharsMap map{blob, path, which};
    if (blob.size() <= 4)
        map.refuse("is too short");  // sentencepiece refuses these too, but say so before it does
    uint32_t trieBytes = 0;
    for (int i = 3; i >= 0; --i)
        trieBytes = (trieBytes << 8) | static_cast<unsigned char>(blob[static_cast<size_t>(i)]);
    if (trieBytes >= blob.size() - 4)
        map.refuse("claims a trie of " + std::to_string(trieBytes) + " bytes in a map of " +
                   std::to_string(blob.size()) + " bytes");
    // sentencepiece uses trieBytes / 4 units and ignores a remainder; so does this check.
    map.units = trieBytes / 4;
    if (map.units == 0)
        map.refuse("has an empty trie");
    map.trie = blob.data() + 4;
    map.pool = blob.substr(4 + trieBytes);
    map.lastNul = map.pool.rfind('\0');
    return map;
}

/// The children of the node at index n live at base ^ c for every byte c, base = n ^ offset(unit n): the whole
/// 256-unit block around base must exist. A leaf's value is the unit at base itself, an offset into the pool
/// where a NUL-terminated replacement must start.
size_t baseOf(const CharsMap& map, size_t n)
{
    const size_t base = n ^ offsetOf(map.unitAt(n));
    if ((base | 0xFF) >= map.units)
        map.refuse("points outside its trie (unit " + std::to_string(n) + " of " + std::to_string(map.units) + ")");
    return base;
}

/// Depth-first walk over every reachable node without recursion (a damaged map may hold very long chains). The arrays
/// darts-clone writes share common suffixes, so a node may have several parents; a cycle, though, never occurs in
/// a valid map. For each node the largest number of leaves on a path below it is kept, so that paths with more
/// than kMaxPrefixMatches leaves are found without enumerating paths.
struct TrieWalk {
    enum : uint8_t { kUnseen = 0, kOpen = 1, kDone = 2 };
    struct Frame {
        size_t node;
        size_t base;
        unsigned nextByte;
        int32_t best;
    };
    explicit TrieWalk(const CharsMap& m) : map(m), state(m.units, kUnseen), leavesBelow(m.units, 0) {}

    const CharsMap& map;
    std::vector<uint8_t> state;
    std::vector<int32_t> leavesBelow;
    std::vector<Frame> stack;
};

/// The top node has no bytes left to follow: checks its own leaf's replacement, records its count of leaves and
/// passes it to its parent (at the root, refuses more than kMaxPrefixMatches).
void closeNode(TrieWalk& w)
{
    const TrieWalk::Frame& f = w.stack.back();
    const size_t node = f.node;
    int32_t count = f.best;
    if (node != 0 && hasLeaf(w.map.unitAt(node))) {
        const uint32_t value = w.map.unitAt(f.base) & 0x7FFFFFFFu;
        if (w.map.lastNul == std::string_view::npos || value > w.map.lastNul)
            w.map.refuse("has a replacement at offset " + std::to_string(value) + " outside its string pool of " +
                         std::to_string(w.map.pool.size()) + " bytes");
        ++count;
    }
    w.leavesBelow[node] = count;
    w.state[node] = TrieWalk::kDone;
    w.stack.pop_back();
    if (!w.stack.empty())
        w.stack.back().best = std::max(w.stack.back().best, count);
    else if (count > kMaxPrefixMatches)
        w.map.refuse("matches more than " + std::to_string(kMaxPrefixMatches) + " prefixes of one input");
}

/// Follows the top node's next byte: skips a child the encoder stops at, refuses a cycle, takes the count of a
/// child already done, and otherwise opens the child.
void followNextByte(TrieWalk& w)
{
    TrieWalk::Frame& f = w.stack.back();
    const unsigned c = f.nextByte++;
    const size_t child = f.base ^ c;
    if (labelOf(w.map.unitAt(child)) != c)
        return;  // the encoder stops here
    if (w.state[child] == TrieWalk::kOpen)
        w.map.refuse("has a cycle");
    if (w.state[child] == TrieWalk::kDone) {
        f.best = std::max(f.best, w.leavesBelow[child]);
        return;
    }
    if (f.best > kMaxPrefixMatches)
        w.map.refuse("matches more than " + std::to_string(kMaxPrefixMatches) + " prefixes of one input");
    w.state[child] = TrieWalk::kOpen;
    const size_t childBase = baseOf(w.map, child);
    w.stack.push_back({child, childBase, 0, 0});
}

/// Checks one precompiled character map. Throws BadInput naming `path` and `which` when the encoder could read out
/// of bounds with it. The layout and the unit encoding are darts-clone's, as sentencepiece stores them.
void checkCharsMap(std::string_view blob, const std::string& path, const char* which)
{
    const CharsMap map = splitCharsMap(blob, path, which);
    TrieWalk w(map);
    w.stack.push_back({0, baseOf(map, 0), 0, 0});
    w.state[0] = TrieWalk::kOpen;
    while (!w.stack.empty()) {
        if (w.stack.back().nextByte > 0xFF)
            closeNode(w);
        else
            followNextByte(w);
    }
}

/// Reads tokenizer.model and checks the parts sentencepiece uses without validation (see above). The protobuf
/// itself is left to sentencepiece: when this reader cannot follow the file, loading fails there with its message.
void checkSentencePieceModel(const std::string& path)
{
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    constexpr uintmax_t kMaxModelBytes = 1ull << 30;
    if (ec)
        badInput("cannot read sentencepiece model " + path + ": " + ec.message());
    if (size > kMaxModelBytes)
        badInput("sentencepiece model " + path + " has " + std::to_string(size) +
                 " bytes, more than any tokenizer.model (the limit is 1 GiB): not a tokenizer model");
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.eof() && in.fail())
        badInput("cannot read sentencepiece model " + path);

    // ModelProto: field 3 is the normalizer spec, field 5 the denormalizer spec; in each, field 2 is the
    // precompiled character map. Protobuf merges repeated occurrences of a message field, so the last map wins.
    std::string_view maps[2];  // normalizer, denormalizer
    WireReader model(bytes);
    uint32_t field = 0, wire = 0;
    while (model.next(field, wire)) {
        if ((field == 3 || field == 5) && wire == 2) {
            std::string_view spec;
            if (!model.bytes(spec))
                break;
            WireReader r(spec);
            uint32_t f = 0, w = 0;
            while (r.next(f, w)) {
                if (f == 2 && w == 2) {
                    std::string_view map;
                    if (!r.bytes(map))
                        break;
                    maps[field == 3 ? 0 : 1] = map;
                } else if (!r.skip(w)) {
                    break;
                }
            }
            if (!r.ok())
                return;  // not protobuf: sentencepiece refuses it with its own message
        } else if (!model.skip(wire)) {
            break;
        }
    }
    if (!model.ok())
        return;
    if (!maps[0].empty())
        checkCharsMap(maps[0], path, "normalizer");
    if (!maps[1].empty())
        checkCharsMap(maps[1], path, "denormalizer");
}

class SentencePieceTokenizer final : public Tokenizer {
public:
    SentencePieceTokenizer(const ShimApi& api, void* handle, std::string path)
        : m_api(api), m_handle(handle), m_path(std::move(path)), m_pieceCount(api.pieceCount(handle))
    {
    }
    ~SentencePieceTokenizer() override { m_api.release(m_handle); }
    SentencePieceTokenizer(const SentencePieceTokenizer&) = delete;
    SentencePieceTokenizer& operator=(const SentencePieceTokenizer&) = delete;

    std::vector<int32_t> encode(std::string_view text) const override
    {
        // sentencepiece would quietly replace broken bytes; the contract is to reject them with a position.
        checkUtf8(text, "text to tokenize");
        // One id per byte plus the dummy-prefix piece covers almost every text; normalization that expands
        // characters (NFKC) may need more, which the shim reports so we retry once with the exact size.
        std::vector<int32_t> ids(text.size() + 8);
        size_t n = 0;
        char err[kErrLen] = {};
        int rc = m_api.encode(m_handle, text.data(), text.size(), ids.data(), ids.size(), &n, err, sizeof err);
        if (rc == kShimBufferTooSmall) {
            ids.resize(n);
            rc = m_api.encode(m_handle, text.data(), text.size(), ids.data(), ids.size(), &n, err, sizeof err);
        }
        if (rc == kShimOutOfMemory) {
            // sentencepiece holds a lattice for the whole text it is given; say how much text that was and what
            // helps, rather than only "out of memory".
            char size[32];
            std::snprintf(size, sizeof size, "%.1f MB", static_cast<double>(text.size()) / 1e6);
            throw Error(ErrorCode::OutOfMemory, "sentencepiece ran out of memory encoding " + std::string(size) +
                                                    " of text in one piece with " + m_path + " (" + err +
                                                    "); use a shorter text");
        }
        if (rc != kShimOk)
            throw Error(ErrorCode::Internal, "sentencepiece failed to encode text with " + m_path + ": " + err);
        ids.resize(n);
        return ids;
    }

    int64_t vocabSize() const override { return m_pieceCount; }

    std::string describe() const override { return "sentencepiece (" + std::to_string(m_pieceCount) + " pieces)"; }

    int32_t pieceId(const std::string& piece) const { return m_api.pieceToId(m_handle, piece.c_str()); }
    int32_t specialId(int which) const { return m_api.specialId(m_handle, which); }

private:
    ShimApi m_api;  // a copy: a tokenizer may outlive the function-local static during static destruction
    void* m_handle;
    std::string m_path;
    int64_t m_pieceCount;
};

}  // namespace

std::unique_ptr<Tokenizer> loadSentencePiece(const std::string& modelPath)
{
    std::error_code ec;
    if (!std::filesystem::is_regular_file(modelPath, ec))
        badInput("sentencepiece model " + modelPath + " not found");
    checkSentencePieceModel(modelPath);
    const ShimApi& api = shimApi();
    char err[kErrLen] = {};
    void* handle = api.load(modelPath.c_str(), err, sizeof err);
    if (!handle)
        badInput("cannot load sentencepiece model " + modelPath + ": " + err +
                 " (is it a sentencepiece tokenizer.model file?)");
    return std::make_unique<SentencePieceTokenizer>(api, handle, modelPath);
}

namespace detail {

// Hooks for loadTokenizer() (tokenizer.cpp), which resolves BOS/EOS names without widening the public interface.
// Each returns false when `tok` is not a sentencepiece tokenizer.

bool sentencePieceLookup(const Tokenizer& tok, const std::string& piece, int32_t& id)
{
    const auto* spm = dynamic_cast<const SentencePieceTokenizer*>(&tok);
    if (!spm)
        return false;
    id = spm->pieceId(piece);
    return true;
}

bool sentencePieceSpecials(const Tokenizer& tok, int32_t& bos, int32_t& eos)
{
    const auto* spm = dynamic_cast<const SentencePieceTokenizer*>(&tok);
    if (!spm)
        return false;
    bos = spm->specialId(0);
    eos = spm->specialId(1);
    return true;
}

}  // namespace detail
}  // namespace aq
