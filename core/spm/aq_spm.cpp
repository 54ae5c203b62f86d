// aq_spm: the only binary of the project that links libsentencepiece.
//
// Debian's libsentencepiece carries its own copy of protobuf-lite and exports those symbols; a process that also
// loads LibTorch (which links the system libprotobuf) crashes in a static initializer when the two copies interpose
// each other. Core therefore never links sentencepiece: it dlopen()s this library with RTLD_LOCAL | RTLD_DEEPBIND
// (see tokenizer_spm.cpp), so that sentencepiece binds to its own protobuf.
//
// The interface is plain C on purpose: nothing of sentencepiece, absl or the C++ standard library crosses the
// boundary, no exception escapes, and every failure comes back as a status code plus an English message.
// The target is built with hidden visibility; only the functions marked AQ_SPM_EXPORT below are exported.
//
// Thread safety: a handle is immutable after aq_spm_load(); aq_spm_encode() and the lookups may be called from any
// number of threads at once (SentencePieceProcessor's encoding methods are const).
#include <sentencepiece_processor.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#define AQ_SPM_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

// Status codes shared with tokenizer_spm.cpp. Zero is success; keep the values stable.
enum : int {
    kOk = 0,
    kErrInvalidArgument = 1,
    kErrLoad = 2,
    kErrEncode = 3,
    kErrBufferTooSmall = 4,
    kErrOutOfMemory = 5,
    kErrInternal = 6,
};

// Bumped whenever a signature below changes, so that core can refuse a stale shim found on disk.
constexpr int kAbiVersion = 1;

struct Handle {
    sentencepiece::SentencePieceProcessor processor;
};

void setError(char* err, size_t errLen, const std::string& message)
{
    if (!err || errLen == 0)
        return;
    const size_t n = std::min(message.size(), errLen - 1);
    std::memcpy(err, message.data(), n);
    err[n] = '\0';
}

}  // namespace

/// ABI version of this shim (kAbiVersion).
AQ_SPM_EXPORT int aq_spm_abi_version(void)
{
    return kAbiVersion;
}

/// Loads a sentencepiece model file. Returns an opaque handle, or null with a message in err.
AQ_SPM_EXPORT void* aq_spm_load(const char* path, char* err, size_t errLen)
{
    if (!path) {
        setError(err, errLen, "no model path given");
        return nullptr;
    }
    try {
        auto handle = std::make_unique<Handle>();
        const auto status = handle->processor.Load(path);
        if (!status.ok()) {
            setError(err, errLen, status.ToString());
            return nullptr;
        }
        if (handle->processor.GetPieceSize() <= 0) {
            setError(err, errLen, "the model has no pieces");
            return nullptr;
        }
        return handle.release();
    } catch (const std::bad_alloc&) {
        setError(err, errLen, "out of memory while loading the model");
    } catch (const std::exception& e) {
        setError(err, errLen, std::string("unexpected error while loading the model: ") + e.what());
    } catch (...) {
        setError(err, errLen, "unexpected error while loading the model");
    }
    return nullptr;
}

/// Releases a handle from aq_spm_load(). Null is allowed.
AQ_SPM_EXPORT void aq_spm_free(void* handle)
{
    delete static_cast<Handle*>(handle);
}

/// Encodes `len` bytes of UTF-8 text (no BOS/EOS). Writes at most `cap` ids to `out` and the number of ids the text
/// needs to `*n`. Returns kErrBufferTooSmall (with *n set, nothing else changed) when cap is too small, so the caller
/// can retry with a larger buffer; `out` may be null when cap is 0.
AQ_SPM_EXPORT int aq_spm_encode(void* handle, const char* text, size_t len, int32_t* out, size_t cap, size_t* n,
                                char* err, size_t errLen)
{
    if (!handle || (!text && len > 0) || !n || (!out && cap > 0)) {
        setError(err, errLen, "invalid argument");
        return kErrInvalidArgument;
    }
    try {
        const auto* h = static_cast<const Handle*>(handle);
        std::vector<int> ids;
        const auto status = h->processor.Encode(absl::string_view(text ? text : "", len), &ids);
        if (!status.ok()) {
            setError(err, errLen, status.ToString());
            return kErrEncode;
        }
        *n = ids.size();
        if (ids.size() > cap)
            return kErrBufferTooSmall;
        for (size_t i = 0; i < ids.size(); ++i)
            out[i] = static_cast<int32_t>(ids[i]);
        return kOk;
    } catch (const std::bad_alloc&) {
        setError(err, errLen, "out of memory while encoding");
        return kErrOutOfMemory;
    } catch (const std::exception& e) {
        setError(err, errLen, std::string("unexpected error while encoding: ") + e.what());
        return kErrInternal;
    } catch (...) {
        setError(err, errLen, "unexpected error while encoding");
        return kErrInternal;
    }
}

/// Number of pieces in the model (its vocabulary size), or -1 for a null handle.
AQ_SPM_EXPORT int aq_spm_piece_count(void* handle)
{
    if (!handle)
        return -1;
    return static_cast<const Handle*>(handle)->processor.GetPieceSize();
}

/// Id of a piece given by its exact text, or -1 when the model has no such piece. (sentencepiece itself answers
/// the unknown-piece id for any unknown text; this compares back so that callers can tell the two apart.)
AQ_SPM_EXPORT int aq_spm_piece_to_id(void* handle, const char* piece)
{
    if (!handle || !piece)
        return -1;
    try {
        const auto& p = static_cast<const Handle*>(handle)->processor;
        const int id = p.PieceToId(piece);
        if (id < 0 || id >= p.GetPieceSize() || p.IdToPiece(id) != piece)
            return -1;
        return id;
    } catch (...) {
        return -1;
    }
}

/// The BOS / EOS / unknown ids recorded in the model's trainer spec (-1 when disabled), or -2 for a null handle.
AQ_SPM_EXPORT int aq_spm_special_id(void* handle, int which)
{
    if (!handle)
        return -2;
    const auto& p = static_cast<const Handle*>(handle)->processor;
    switch (which) {
    case 0:
        return p.bos_id();
    case 1:
        return p.eos_id();
    case 2:
        return p.unk_id();
    default:
        return -2;
    }
}
