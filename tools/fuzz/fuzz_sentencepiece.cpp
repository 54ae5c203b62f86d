// Fuzz target: a sentencepiece tokenizer.model, loaded through the project's sentencepiece shim (aq_spm, opened with
// dlopen as in every program) with aq::loadSentencePiece; a model that loads encodes a fixed sample text. The shim is
// found next to the executable (build-fuzz/bin) or through AQ_SPM_SHIM.
#include "aq/tokenizer.h"
#include "fuzz_common.h"

// Debian's libsentencepiece frees memory from its own static initializers with operator delete that was allocated
// with malloc, as seen by AddressSanitizer when the shim is opened with RTLD_DEEPBIND (its C++ runtime binds to
// libstdc++'s operator new, while the delete resolves to the sanitizer's). That is outside the project's code and
// happens once at load time, so the mismatch check is off for this target; every other check stays on.
extern "C" const char* __asan_default_options()
{
    return "alloc_dealloc_mismatch=0";
}

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    aqfuzz::init("sentencepiece");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const auto path = aqfuzz::workDir() / "tokenizer.model";
    aqfuzz::writeFile(path, data, size);
    aqfuzz::guarded([&] {
        const auto tok = aq::loadSentencePiece(path.string());
        for (int32_t id : tok->encode(aqfuzz::kSampleText))
            if (id < 0 || id >= tok->vocabSize())
                throw std::logic_error("token id " + std::to_string(id) + " outside the vocabulary");
    });
    return 0;
}
