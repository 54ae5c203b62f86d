#pragma once
// Shared pieces of the libFuzzer harnesses (docs/fuzzing.md).
//
// Every harness feeds one input to one parser through the project's own API and ends each input the way the
// command-line program ends a command (app/cli/main.cpp): aq::Error becomes its exit status (2 bad input, 3 out of
// memory, 130 cancelled, 1 internal), any other exception is an "internal error" (exit 1). Bad input must never be an
// internal error, so by default the harness aborts on one; libFuzzer then saves the input as a crash. Set
// AQ_FUZZ_INTERNAL=count to count them instead (the summary printed at exit gives the numbers), and AQ_FUZZ_VERBOSE=1
// to print each input's outcome and message (for replaying a few inputs: build-fuzz/bin/aq-fuzz-config FILE...).
//
// Files a parser reads from disk are written into a private temporary folder of the process (removed at exit).
#include "aq/error.h"

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace aqfuzz {

/// Outcome counts of this process, printed at exit.
struct Counts {
    std::atomic<uint64_t> inputs{0}, ok{0}, badInput{0}, outOfMemory{0}, cancelled{0}, numerical{0}, internal{0};
};

inline Counts& counts()
{
    static Counts c;
    return c;
}

inline const char*& targetName()
{
    static const char* name = "fuzz";
    return name;
}

inline std::filesystem::path& workDirSlot()
{
    static std::filesystem::path dir;
    return dir;
}

inline void printSummary()
{
    const Counts& c = counts();
    std::fprintf(stderr,
                 "aq-fuzz summary: target %s: %llu inputs: %llu accepted, %llu bad input (exit 2), %llu out of memory "
                 "(exit 3), %llu cancelled, %llu numerical, %llu internal error (exit 1)\n",
                 targetName(), static_cast<unsigned long long>(c.inputs.load()),
                 static_cast<unsigned long long>(c.ok.load()), static_cast<unsigned long long>(c.badInput.load()),
                 static_cast<unsigned long long>(c.outOfMemory.load()),
                 static_cast<unsigned long long>(c.cancelled.load()),
                 static_cast<unsigned long long>(c.numerical.load()),
                 static_cast<unsigned long long>(c.internal.load()));
}

inline void removeWorkDir()
{
    std::error_code ec;
    if (!workDirSlot().empty())
        std::filesystem::remove_all(workDirSlot(), ec);
}

/// Sets up the process: names the target for the summary and creates the private temporary folder.
inline void init(const char* name)
{
    targetName() = name;
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/aq-fuzz-" + name + "-XXXXXX";
    if (!mkdtemp(templ.data())) {
        std::perror("aq-fuzz: mkdtemp");
        std::abort();
    }
    workDirSlot() = templ;
    std::atexit([] {
        printSummary();
        removeWorkDir();
    });
}

/// The private temporary folder (exists after init()).
inline const std::filesystem::path& workDir() { return workDirSlot(); }

/// Writes bytes to `path` (replacing it); aborts if the harness cannot write its own temporary file.
inline void writeFile(const std::filesystem::path& path, const uint8_t* data, size_t size)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.close();
    if (!out) {
        std::fprintf(stderr, "aq-fuzz: cannot write %s\n", path.c_str());
        std::abort();
    }
}

inline void writeFile(const std::filesystem::path& path, std::string_view text)
{
    writeFile(path, reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

inline bool countInternal() { const char* v = std::getenv("AQ_FUZZ_INTERNAL"); return v && std::strcmp(v, "count") == 0; }

inline bool verbose()
{
    static const bool on = [] { const char* v = std::getenv("AQ_FUZZ_VERBOSE"); return v && *v && *v != '0'; }();
    return on;
}

inline void report(const char* outcome, const char* what)
{
    if (verbose())
        std::fprintf(stderr, "aq-fuzz: %s: %s%s%s\n", targetName(), outcome, what ? ": " : "", what ? what : "");
}

inline void internalError(const char* what)
{
    ++counts().internal;
    std::fprintf(stderr, "aq-fuzz: %s: internal error (exit 1) on bad input: %s\n", targetName(), what);
    if (!countInternal())
        std::abort();
}

/// Runs one input the way the command-line program runs a command and records its exit status.
template <typename Fn>
void guarded(Fn&& fn)
{
    ++counts().inputs;
    try {
        fn();
        ++counts().ok;
        report("accepted", nullptr);
    } catch (const aq::Error& e) {
        if (e.code() != aq::ErrorCode::Internal && e.code() != aq::ErrorCode::Invalid)
            report(aq::errorCodeName(e.code()), e.what());
        switch (e.code()) {
        case aq::ErrorCode::BadInput: ++counts().badInput; break;
        case aq::ErrorCode::OutOfMemory: ++counts().outOfMemory; break;
        case aq::ErrorCode::Cancelled: ++counts().cancelled; break;
        case aq::ErrorCode::Numerical: ++counts().numerical; break;
        case aq::ErrorCode::Internal:
        case aq::ErrorCode::PeerFailure:  // no parser has peers: a bug
        case aq::ErrorCode::Invalid: internalError(e.what()); break;
        }
    } catch (const std::exception& e) {
        internalError(e.what());
    }
}

/// Text the tokenizer harnesses encode after a successful load: ASCII words, punctuation, digits, runs of spaces,
/// accented Latin, CJK, an emoji, control characters and a long run of one letter.
inline constexpr std::string_view kSampleText =
    "Once upon a time, there was a little girl named Lily. She's 12345 years old!\n\n"
    "  Hello   world\t\ttabs, na\xC3\xAFve caf\xC3\xA9, \xE6\x9D\xB1\xE4\xBA\xAC, \xF0\x9F\x99\x82 <s> </s> <unk> "
    "don't I'll we've 3.14159 --- ... \xE2\x80\x94 end.\r\n"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab";

}  // namespace aqfuzz
