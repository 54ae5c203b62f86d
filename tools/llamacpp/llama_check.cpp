// aq-llama-check: loads a GGUF file in llama.cpp itself (its prebuilt libraries, through the public C API) and reports
// what llama.cpp makes of it, so that our GGUF exports can be checked against a third-party implementation.
//
//   aq-llama-check --model FILE.gguf --text FILE --seqlen N [--max-windows K] [--tokens-out F] [--logits-out F]
//                  [--kv-type f32|f16] [--flash-attn off|on|auto] [--threads T] [--json] [--verbose]
//       Perplexity with the protocol of `affinequant eval`: the whole text is tokenized once (BOS prepended when the
//       file's tokenizer metadata asks for it), cut into disjoint windows of N tokens from token 0, every window is
//       decoded on its own (fresh KV cache) with logits for every position, and
//       PPL = exp(mean over windows of the mean next-token negative log-likelihood).
//       --tokens-out writes every token id of the text, one per line; --logits-out the logits of the first window as
//       raw float32 [N, vocab] (row-major, native byte order). The KV cache is F32 and flash attention off by default,
//       so that the only differences from a float32 evaluation are those of the file's weights and of llama.cpp's
//       matrix products; --kv-type f16 --flash-attn auto gives llama.cpp's own defaults. Threads: all cores.
//
//   aq-llama-check --dequant FILE.gguf [--tensor NAME] --out F [--json]
//       llama.cpp's own decoding of the file's tensors (ggml's to_float of each tensor's type) as raw float32,
//       row-major in the usual order (shape [ne1, ne0] for a matrix); several tensors are written one after another
//       in file order, and the listing (stdout) gives each one's type, shape and float offset in F.
//
//   aq-llama-check --quantize IN.gguf --ftype Q4_K_M|Q3_K_M|Q2_K|Q4_K_S|Q6_K --out OUT.gguf
//       llama.cpp's own quantizer (llama_model_quantize, as llama-quantize runs it without an importance matrix) of
//       an F16/F32 file; --dequant of the result then lists which type llama.cpp gave each tensor.
//
//   aq-llama-check --version
//
// Exit status: 0 success, 2 bad input or usage, 1 any other failure.
#include <ggml-backend.h>
#include <ggml.h>
#include <gguf.h>
#include <llama.h>

#include <nlohmann/json.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;

const char* kUsage = R"(usage:
  aq-llama-check --model FILE.gguf --text FILE --seqlen N [--max-windows K] [--tokens-out F] [--logits-out F]
                 [--kv-type f32|f16] [--flash-attn off|on|auto] [--threads T] [--json] [--verbose]
      llama.cpp's perplexity of FILE.gguf with the protocol of `affinequant eval` (disjoint windows of N tokens).
  aq-llama-check --dequant FILE.gguf [--tensor NAME] --out F [--json]
      llama.cpp's dequantization of the file's tensors (or one) as raw float32, row-major, in file order.
  aq-llama-check --quantize IN.gguf --ftype Q4_K_M|Q3_K_M|Q2_K|Q4_K_S|Q6_K --out OUT.gguf
      llama.cpp's own quantizer of an F16/F32 file, without an importance matrix.
  aq-llama-check --version
      The llama.cpp build and the CPU features it uses.
)";

/// Bad input or usage (exit status 2); anything else derived from std::exception exits with 1.
struct BadInput : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Args {
public:
    Args(int argc, char** argv, const std::set<std::string>& valued, const std::set<std::string>& flags)
    {
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            if (a.rfind("--", 0) != 0)
                throw BadInput("unexpected argument '" + a + "'");
            const std::string name = a.substr(2);
            if (flags.count(name)) {
                m_values[name] = "";
            } else if (valued.count(name)) {
                if (i + 1 >= argc)
                    throw BadInput("option " + a + " needs a value");
                m_values[name] = argv[++i];
            } else {
                throw BadInput("unknown option " + a);
            }
        }
    }
    bool has(const std::string& name) const { return m_values.count(name) > 0; }
    std::string str(const std::string& name, const std::string& fallback = "") const
    {
        auto it = m_values.find(name);
        return it == m_values.end() ? fallback : it->second;
    }
    std::string required(const std::string& name) const
    {
        if (!has(name) || str(name).empty())
            throw BadInput("--" + name + " is required");
        return str(name);
    }
    long long integer(const std::string& name, long long fallback) const
    {
        if (!has(name))
            return fallback;
        const std::string s = str(name);
        size_t used = 0;
        long long v = 0;
        try {
            v = std::stoll(s, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used == 0 || used != s.size())
            throw BadInput("--" + name + " expects an integer, got '" + s + "'");
        return v;
    }

private:
    std::map<std::string, std::string> m_values;
};

bool g_verbose = false;
ggml_log_level g_lastLevel = GGML_LOG_LEVEL_NONE;

// llama.cpp and ggml log through this: warnings and errors go to stderr, the rest only with --verbose.
void logToStderr(ggml_log_level level, const char* text, void*)
{
    if (level != GGML_LOG_LEVEL_CONT)
        g_lastLevel = level;
    if (g_verbose || g_lastLevel >= GGML_LOG_LEVEL_WARN)
        std::fputs(text, stderr);
}

double secondsSince(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string readFile(const std::string& path, const char* what)
{
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
        throw BadInput(std::string(what) + " '" + path + "' does not exist or is not a file");
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw BadInput(std::string("cannot read ") + what + " '" + path + "'");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::ofstream openOutput(const std::string& path)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out)
        throw BadInput("cannot write '" + path + "'");
    return out;
}

void checkWritten(std::ofstream& out, const std::string& path)
{
    out.flush();
    if (!out)
        throw std::runtime_error("writing '" + path + "' failed (disk full?)");
}

/// Loads ggml's backends (the CPU one fitting this processor) from the folder the llama.cpp library was loaded from.
void initLlama()
{
    llama_log_set(logToStderr, nullptr);
    ggml_log_set(logToStderr, nullptr);
    llama_backend_init();
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&llama_backend_init), &info) == 0 || info.dli_fname == nullptr)
        throw std::runtime_error("cannot locate the llama.cpp library to load ggml's backends from");
    const std::string dir = fs::path(info.dli_fname).parent_path().string();
    ggml_backend_load_all_from_path(dir.c_str());
    if (ggml_backend_dev_count() == 0)
        throw std::runtime_error("no ggml backend could be loaded from " + dir);
}

#ifndef AQ_LLAMACPP_RELEASE
#define AQ_LLAMACPP_RELEASE "unknown release"
#endif

/// The llama.cpp library's version and the release it was installed from.
std::string llamaVersion()
{
    return std::string(llama_version()) + " (" AQ_LLAMACPP_RELEASE ")";
}

std::string versionText()
{
    std::string s = "llama.cpp " + llamaVersion() + "\n";
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        s += std::string("device ") + ggml_backend_dev_name(dev) + ": " + ggml_backend_dev_description(dev) + "\n";
    }
    s += std::string("system ") + llama_print_system_info() + "\n";
    return s;
}

std::string metaString(const llama_model* model, const char* key)
{
    char buf[256];
    const int32_t n = llama_model_meta_val_str(model, key, buf, sizeof buf);
    return n < 0 ? std::string() : std::string(buf);
}

struct ModelDeleter {
    void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ContextDeleter {
    void operator()(llama_context* c) const { llama_free(c); }
};
struct BatchGuard {
    llama_batch batch;
    explicit BatchGuard(int32_t n) : batch(llama_batch_init(n, 0, 1)) {}
    ~BatchGuard() { llama_batch_free(batch); }
    BatchGuard(const BatchGuard&) = delete;
    BatchGuard& operator=(const BatchGuard&) = delete;
};

/// Mean next-token negative log-likelihood of one decoded window (positions 0..n-2 predict tokens 1..n-1), with the
/// log-softmax in double precision.
double windowNll(llama_context* ctx, const llama_token* ids, int32_t n, int32_t vocab)
{
    double sum = 0;
    for (int32_t i = 0; i + 1 < n; ++i) {
        const float* row = llama_get_logits_ith(ctx, i);
        if (row == nullptr)
            throw std::runtime_error("llama.cpp returned no logits for position " + std::to_string(i));
        const float mx = *std::max_element(row, row + vocab);
        double z = 0;
        for (int32_t v = 0; v < vocab; ++v)
            z += std::exp(static_cast<double>(row[v]) - mx);
        sum += std::log(z) + mx - static_cast<double>(row[ids[i + 1]]);
    }
    return sum / static_cast<double>(n - 1);
}

int cmdPerplexity(const Args& args)
{
    const std::string modelPath = args.required("model");
    const std::string textPath = args.required("text");
    const long long seqlen = args.integer("seqlen", 0);
    const long long maxWindows = args.integer("max-windows", 0);
    const long long threads = args.integer("threads", std::max(1u, std::thread::hardware_concurrency()));
    const std::string kvType = args.str("kv-type", "f32");
    const std::string flashAttn = args.str("flash-attn", "off");
    const bool json = args.has("json");
    if (!args.has("seqlen"))
        throw BadInput("--seqlen is required");
    if (seqlen < 2 || seqlen > (1 << 20))
        throw BadInput("--seqlen must be between 2 and 1048576");
    if (maxWindows < 0)
        throw BadInput("--max-windows must not be negative");
    if (threads < 1 || threads > 1024)
        throw BadInput("--threads must be between 1 and 1024");
    if (kvType != "f32" && kvType != "f16")
        throw BadInput("--kv-type must be f32 or f16");
    if (flashAttn != "on" && flashAttn != "off" && flashAttn != "auto")
        throw BadInput("--flash-attn must be on, off or auto");
    std::error_code ec;
    if (!fs::is_regular_file(modelPath, ec))
        throw BadInput("model file '" + modelPath + "' does not exist or is not a file");
    const std::string text = readFile(textPath, "text file");
    if (text.size() > static_cast<size_t>(INT32_MAX))
        throw BadInput("text file '" + textPath + "' is too large for llama_tokenize (2 GiB at most)");

    const auto t0 = std::chrono::steady_clock::now();
    initLlama();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    std::unique_ptr<llama_model, ModelDeleter> model(llama_model_load_from_file(modelPath.c_str(), mp));
    if (!model)
        throw BadInput("llama.cpp could not load '" + modelPath + "' (run with --verbose for its log)");
    const llama_vocab* vocab = llama_model_get_vocab(model.get());
    const int32_t nVocab = llama_vocab_n_tokens(vocab);
    const int32_t nCtxTrain = llama_model_n_ctx_train(model.get());
    if (nCtxTrain > 0 && seqlen > nCtxTrain)
        throw BadInput("--seqlen " + std::to_string(seqlen) + " exceeds the model's context length (" +
                       std::to_string(nCtxTrain) + ")");

    // Tokenize without llama.cpp's automatic special tokens (it would also append EOS when the file asks for it),
    // then prepend BOS exactly when the tokenizer metadata says so, as `affinequant eval` does.
    std::vector<llama_token> tokens(text.size() + 2);
    int32_t n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                               static_cast<int32_t>(tokens.size()), false, false);
    if (n < 0 && n != INT32_MIN) {
        tokens.resize(static_cast<size_t>(-n));
        n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                           static_cast<int32_t>(tokens.size()), false, false);
    }
    if (n < 0)
        throw std::runtime_error("llama_tokenize failed on '" + textPath + "'");
    tokens.resize(static_cast<size_t>(n));
    const bool addBos = llama_vocab_get_add_bos(vocab);
    const llama_token bos = llama_vocab_bos(vocab);
    if (addBos) {
        if (bos == LLAMA_TOKEN_NULL)
            throw BadInput("the file asks for a BOS token but defines none");
        tokens.insert(tokens.begin(), bos);
    }
    if (args.has("tokens-out")) {
        const std::string path = args.str("tokens-out");
        std::ofstream out = openOutput(path);
        for (llama_token t : tokens)
            out << t << '\n';
        checkWritten(out, path);
    }

    const long long available = static_cast<long long>(tokens.size()) / seqlen;
    if (available < 1)
        throw BadInput("the text has " + std::to_string(tokens.size()) + " tokens, fewer than one window of " +
                       std::to_string(seqlen) + "; use a longer text or a smaller --seqlen");
    const long long windows = maxWindows > 0 ? std::min(maxWindows, available) : available;
    const auto N = static_cast<int32_t>(seqlen);

    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = static_cast<uint32_t>(N);
    cp.n_batch = static_cast<uint32_t>(N);
    cp.n_ubatch = static_cast<uint32_t>(N);
    cp.n_seq_max = 1;
    cp.n_threads = static_cast<int32_t>(threads);
    cp.n_threads_batch = static_cast<int32_t>(threads);
    cp.type_k = kvType == "f32" ? GGML_TYPE_F32 : GGML_TYPE_F16;
    cp.type_v = cp.type_k;
    cp.flash_attn_type = flashAttn == "on"    ? LLAMA_FLASH_ATTN_TYPE_ENABLED
                         : flashAttn == "off" ? LLAMA_FLASH_ATTN_TYPE_DISABLED
                                              : LLAMA_FLASH_ATTN_TYPE_AUTO;
    cp.embeddings = false;
    cp.no_perf = true;
    std::unique_ptr<llama_context, ContextDeleter> ctx(llama_init_from_model(model.get(), cp));
    if (!ctx)
        throw std::runtime_error("llama.cpp could not create a context of " + std::to_string(N) + " tokens");
    if (llama_n_ctx(ctx.get()) < static_cast<uint32_t>(N) || llama_n_batch(ctx.get()) < static_cast<uint32_t>(N) ||
        llama_n_ubatch(ctx.get()) < static_cast<uint32_t>(N))
        throw std::runtime_error("llama.cpp reduced the context or batch below " + std::to_string(N) + " tokens");
    const double loadSeconds = secondsSince(t0);

    std::ofstream logitsOut;
    const std::string logitsPath = args.str("logits-out");
    if (!logitsPath.empty())
        logitsOut = openOutput(logitsPath);

    BatchGuard batch(N);
    std::vector<double> nll;
    nll.reserve(static_cast<size_t>(windows));
    const auto t1 = std::chrono::steady_clock::now();
    for (long long w = 0; w < windows; ++w) {
        const llama_token* ids = tokens.data() + w * N;
        llama_memory_clear(llama_get_memory(ctx.get()), true);
        batch.batch.n_tokens = N;
        for (int32_t i = 0; i < N; ++i) {
            batch.batch.token[i] = ids[i];
            batch.batch.pos[i] = i;
            batch.batch.n_seq_id[i] = 1;
            batch.batch.seq_id[i][0] = 0;
            batch.batch.logits[i] = 1;
        }
        const int32_t rc = llama_decode(ctx.get(), batch.batch);
        if (rc != 0)
            throw std::runtime_error("llama_decode failed on window " + std::to_string(w) + " (status " +
                                     std::to_string(rc) + ")");
        nll.push_back(windowNll(ctx.get(), ids, N, nVocab));
        if (w == 0 && logitsOut.is_open()) {
            for (int32_t i = 0; i < N; ++i)
                logitsOut.write(reinterpret_cast<const char*>(llama_get_logits_ith(ctx.get(), i)),
                                static_cast<std::streamsize>(nVocab) * sizeof(float));
            checkWritten(logitsOut, logitsPath);
        }
        if (!json)
            std::printf("window %lld: nll %.6f\n", w, nll.back());
    }
    const double seconds = secondsSince(t1);
    double sum = 0;
    for (double x : nll)
        sum += x;
    const double meanNll = sum / static_cast<double>(windows);
    const double ppl = std::exp(meanNll);
    const long long evaluated = windows * seqlen;

    char desc[256];
    llama_model_desc(model.get(), desc, sizeof desc);
    if (json) {
        nlohmann::json j = {{"model", modelPath},
                            {"text", textPath},
                            {"perplexity", ppl},
                            {"mean_nll", meanNll},
                            {"windows", windows},
                            {"seqlen", seqlen},
                            {"text_tokens", tokens.size()},
                            {"tokens_evaluated", evaluated},
                            {"seconds", seconds},
                            {"load_seconds", loadSeconds},
                            {"tokens_per_second", seconds > 0 ? static_cast<double>(evaluated) / seconds : 0.0},
                            {"threads", threads},
                            {"kv_type", kvType},
                            {"add_bos", addBos},
                            {"bos_id", bos},
                            {"vocab_size", nVocab},
                            {"model_description", desc},
                            {"architecture", metaString(model.get(), "general.architecture")},
                            {"llama_cpp", llamaVersion()},
                            {"window_nll", nll}};
        std::cout << j.dump(2) << "\n";
    } else {
        std::printf("perplexity %.4f over %lld windows of %lld tokens (text: %zu tokens)\n", ppl, windows, seqlen,
                    tokens.size());
        std::printf("llama.cpp %s, %s, %lld threads, kv %s: %.1f tokens/s (%.2f s evaluating, %.2f s loading)\n",
                    llamaVersion().c_str(), desc, threads, kvType.c_str(),
                    seconds > 0 ? static_cast<double>(evaluated) / seconds : 0.0, seconds, loadSeconds);
    }
    return 0;
}

struct GgufDeleter {
    void operator()(gguf_context* c) const { gguf_free(c); }
};

int cmdDequant(const Args& args)
{
    const std::string path = args.required("dequant");
    const std::string outPath = args.required("out");
    const bool json = args.has("json");
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
        throw BadInput("GGUF file '" + path + "' does not exist or is not a file");
    llama_log_set(logToStderr, nullptr);
    ggml_log_set(logToStderr, nullptr);
    gguf_init_params params{};
    params.no_alloc = true;
    params.ctx = nullptr;
    std::unique_ptr<gguf_context, GgufDeleter> g(gguf_init_from_file(path.c_str(), params));
    if (!g)
        throw BadInput("ggml could not parse '" + path + "' as GGUF (see the message above)");

    std::vector<int64_t> selected;
    if (args.has("tensor")) {
        const std::string name = args.str("tensor");
        const int64_t id = gguf_find_tensor(g.get(), name.c_str());
        if (id < 0)
            throw BadInput("'" + path + "' has no tensor named '" + name + "'");
        selected.push_back(id);
    } else {
        for (int64_t i = 0; i < gguf_get_n_tensors(g.get()); ++i)
            selected.push_back(i);
    }

    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw BadInput("cannot read '" + path + "'");
    std::ofstream out = openOutput(outPath);
    const size_t dataOffset = gguf_get_data_offset(g.get());
    nlohmann::json listing = nlohmann::json::array();
    uint64_t floatOffset = 0;
    std::vector<char> raw;
    std::vector<float> values;
    for (int64_t id : selected) {
        const std::string name = gguf_get_tensor_name(g.get(), id);
        const ggml_type type = gguf_get_tensor_type(g.get(), id);
        const int64_t* ne = gguf_get_tensor_ne(g.get(), id);
        int64_t count = 1;
        std::vector<int64_t> shape; // row-major: the slowest dimension first
        for (int d = GGML_MAX_DIMS - 1; d >= 0; --d) {
            count *= ne[d];
            if (ne[d] != 1 || !shape.empty() || d == 0)
                shape.push_back(ne[d]);
        }
        const size_t bytes = gguf_get_tensor_size(g.get(), id);
        raw.resize(bytes);
        in.seekg(static_cast<std::streamoff>(dataOffset + gguf_get_tensor_offset(g.get(), id)));
        in.read(raw.data(), static_cast<std::streamsize>(bytes));
        if (!in)
            throw BadInput("'" + path + "' ends inside the data of tensor '" + name + "'");
        values.resize(static_cast<size_t>(count));
        const ggml_type_traits* traits = ggml_get_type_traits(type);
        if (type == GGML_TYPE_F32) {
            std::memcpy(values.data(), raw.data(), values.size() * sizeof(float));
        } else if (traits != nullptr && traits->to_float != nullptr) {
            traits->to_float(raw.data(), values.data(), count);
        } else {
            throw BadInput("tensor '" + name + "' has type " + ggml_type_name(type) +
                           ", which ggml cannot convert to float");
        }
        out.write(reinterpret_cast<const char*>(values.data()),
                  static_cast<std::streamsize>(values.size() * sizeof(float)));
        listing.push_back({{"name", name},
                           {"type", ggml_type_name(type)},
                           {"shape", shape},
                           {"elements", count},
                           {"float_offset", floatOffset}});
        if (!json) {
            std::string dims;
            for (size_t k = 0; k < shape.size(); ++k)
                dims += (k ? "x" : "") + std::to_string(shape[k]);
            std::printf("%s %s [%s] at float %llu\n", name.c_str(), ggml_type_name(type), dims.c_str(),
                        static_cast<unsigned long long>(floatOffset));
        }
        floatOffset += static_cast<uint64_t>(count);
    }
    checkWritten(out, outPath);
    if (json) {
        nlohmann::json j = {{"file", path}, {"out", outPath}, {"floats", floatOffset}, {"tensors", listing}};
        std::cout << j.dump(2) << "\n";
    }
    return 0;
}

int cmdQuantize(const Args& args)
{
    const std::string in = args.required("quantize"), out = args.required("out"), name = args.required("ftype");
    const std::map<std::string, llama_ftype> kTypes = {
        {"Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M}, {"Q3_K_M", LLAMA_FTYPE_MOSTLY_Q3_K_M}, {"Q2_K", LLAMA_FTYPE_MOSTLY_Q2_K},
        {"Q4_K_S", LLAMA_FTYPE_MOSTLY_Q4_K_S}, {"Q6_K", LLAMA_FTYPE_MOSTLY_Q6_K}};
    const auto it = kTypes.find(name);
    if (it == kTypes.end())
        throw BadInput("--ftype must be Q4_K_M, Q3_K_M, Q2_K, Q4_K_S or Q6_K, got '" + name + "'");
    if (!fs::exists(in))
        throw BadInput("no file '" + in + "'");
    initLlama();
    llama_model_quantize_params params = llama_model_quantize_default_params();
    params.ftype = it->second;
    params.nthread = static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
    if (llama_model_quantize(in.c_str(), out.c_str(), &params) != 0)
        throw std::runtime_error("llama_model_quantize failed for '" + in + "'");
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        const Args args(argc, argv,
                        {"model", "text", "seqlen", "max-windows", "tokens-out", "logits-out", "kv-type", "flash-attn",
                         "threads", "dequant", "tensor", "out", "quantize", "ftype"},
                        {"json", "verbose", "version", "help"});
        g_verbose = args.has("verbose");
        if (args.has("help") || argc == 1) {
            std::fputs(kUsage, args.has("help") ? stdout : stderr);
            return args.has("help") ? 0 : 2;
        }
        if (args.has("version")) {
            initLlama();
            std::fputs(versionText().c_str(), stdout);
            return 0;
        }
        if (args.has("quantize"))
            return cmdQuantize(args);
        if (args.has("dequant") == args.has("model"))
            throw BadInput("give either --model (perplexity), --dequant (tensor decoding) or --quantize");
        return args.has("dequant") ? cmdDequant(args) : cmdPerplexity(args);
    } catch (const BadInput& e) {
        std::fprintf(stderr, "aq-llama-check: bad input: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "aq-llama-check: error: %s\n", e.what());
        return 1;
    }
}
