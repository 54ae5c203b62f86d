// Fuzz target: a Hugging Face tokenizer.json (BPE model, normalizer, pre-tokenizers with PCRE2 patterns, post
// processor), loaded with aq::loadHfTokenizerJson; a tokenizer that loads encodes a fixed sample text.
#include "aq/tokenizer.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    aqfuzz::init("tokenizer_json");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const auto path = aqfuzz::workDir() / "tokenizer.json";
    aqfuzz::writeFile(path, data, size);
    aqfuzz::guarded([&] {
        const auto tok = aq::loadHfTokenizerJson(path.string());
        for (int32_t id : tok->encode(aqfuzz::kSampleText))
            if (id < 0)
                throw std::logic_error("negative token id " + std::to_string(id));
        (void)tok->describe();
    });
    return 0;
}
