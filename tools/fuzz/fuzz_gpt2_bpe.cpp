// Fuzz target: GPT-2 byte-level BPE files, vocab.json and merges.txt, loaded with aq::loadGpt2Bpe; a tokenizer that
// loads encodes a fixed sample text. Input layout: the bytes of vocab.json, one NUL byte, the bytes of merges.txt
// (no NUL: the whole input is vocab.json and merges.txt is empty).
#include "aq/tokenizer.h"
#include "fuzz_common.h"

#include <cstring>

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    aqfuzz::init("gpt2_bpe");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const auto* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
    const size_t vocabSize = nul ? static_cast<size_t>(nul - data) : size;
    const auto vocab = aqfuzz::workDir() / "vocab.json";
    const auto merges = aqfuzz::workDir() / "merges.txt";
    aqfuzz::writeFile(vocab, data, vocabSize);
    aqfuzz::writeFile(merges, nul ? nul + 1 : data + size, nul ? size - vocabSize - 1 : 0);
    aqfuzz::guarded([&] {
        const auto tok = aq::loadGpt2Bpe(vocab.string(), merges.string());
        for (int32_t id : tok->encode(aqfuzz::kSampleText))
            if (id < 0)
                throw std::logic_error("negative token id " + std::to_string(id));
        (void)tok->describe();
    });
    return 0;
}
