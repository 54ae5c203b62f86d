// Sentencepiece tokenizer (`tokenizer.model`), reached through the aq_spm shim.
//
// Core must not link libsentencepiece (its bundled protobuf clashes with LibTorch's, see core/spm/aq_spm.cpp), so the
// shim is opened here with dlopen() and used through its small C interface.
#include "aq/tokenizer.h"

#include "aq/error.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
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
        if (rc == kShimOutOfMemory)
            throw Error(ErrorCode::OutOfMemory, std::string("sentencepiece: ") + err);
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
