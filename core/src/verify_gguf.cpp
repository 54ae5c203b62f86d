// Verification of a GGUF export against its run: metadata, vocabulary, every tensor (the run's integer grid exactly
// for the block types) and the logits of both models. Reads the file with gguf_reader only, never with the writer.
#include "progress_clock.h"
#include "verify_internal.h"

#include "aq/error.h"
#include "aq/evaluate.h"
#include "aq/tokenizer.h"
#include "cancellable_tokenize.h"
#include "checkpoint.h"
#include "export_plan.h"
#include "gguf_reader.h"
#include "gguf_writer.h"
#include "jsonutil.h"
#include "model.h"
#include "quantizer.h"
#include "safetensors.h"
#include "torch_util.h"
#include "transforms.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>

namespace fs = std::filesystem;

namespace aq::detail {

// Defined next to the byte-level BPE tokenizer (tokenizer_bpe.cpp): the id of a token string, false when `tok` is not
// a byte-level BPE tokenizer.
bool byteLevelBpeLookup(const Tokenizer& tok, const std::string& token, int32_t& id);

namespace {

using nlohmann::json;

std::string num(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

std::string shapeText(const std::vector<int64_t>& s)
{
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i)
        r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}

/// Half of one float16 unit in the last place at |x|: the largest error of rounding x to float16 (normal range;
/// below 2^-14 the subnormal spacing 2^-24 applies).
double halfUlpF16(double x)
{
    x = std::abs(x);
    if (x < std::ldexp(1.0, -14))
        return std::ldexp(1.0, -25);
    int e = 0;
    std::frexp(x, &e);  // x = f * 2^e, f in [0.5, 1)
    return std::ldexp(1.0, e - 12);
}

// ---- The run's sentencepiece vocabulary, read from tokenizer.model's protobuf directly ----

struct Piece {
    std::string text;
    float score = 0;
    int type = 1;  // sentencepiece's NORMAL
};

/// Minimal protobuf reading: ModelProto field 1 = repeated SentencePiece {1: piece, 2: score (fixed32 float),
/// 3: type (varint)}; every other field is skipped by its wire type.
class ProtoReader {
public:
    ProtoReader(const uint8_t* p, size_t n, const std::string& origin) : m_p(p), m_end(p + n), m_origin(origin) {}
    bool done() const { return m_p >= m_end; }
    uint64_t varint()
    {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (m_p >= m_end)
                fail("truncated varint");
            const uint8_t b = *m_p++;
            v |= static_cast<uint64_t>(b & 0x7F) << shift;
            if (!(b & 0x80))
                return v;
        }
        fail("varint longer than 10 bytes");
    }
    std::pair<const uint8_t*, size_t> bytes()
    {
        const uint64_t n = varint();
        if (n > static_cast<uint64_t>(m_end - m_p))
            fail("length-delimited field runs past the end");
        const uint8_t* p = m_p;
        m_p += n;
        return {p, static_cast<size_t>(n)};
    }
    uint32_t fixed32()
    {
        if (m_end - m_p < 4)
            fail("truncated fixed32");
        const uint32_t v = m_p[0] | (m_p[1] << 8) | (m_p[2] << 16) | (static_cast<uint32_t>(m_p[3]) << 24);
        m_p += 4;
        return v;
    }
    void skip(int wireType)
    {
        switch (wireType) {
        case 0:
            varint();
            return;
        case 1:
            if (m_end - m_p < 8)
                fail("truncated fixed64");
            m_p += 8;
            return;
        case 2:
            bytes();
            return;
        case 5:
            fixed32();
            return;
        default:
            fail("unsupported wire type " + std::to_string(wireType));
        }
    }
    [[noreturn]] void fail(const std::string& what) const
    {
        badInput("'" + m_origin + "' is not a readable sentencepiece model: " + what);
    }

private:
    const uint8_t* m_p;
    const uint8_t* m_end;
    std::string m_origin;
};

std::vector<Piece> readSentencePieces(const fs::path& path)
{
    const std::string data = readTextFile(path, "sentencepiece model");
    ProtoReader model(reinterpret_cast<const uint8_t*>(data.data()), data.size(), path.string());
    std::vector<Piece> pieces;
    while (!model.done()) {
        const uint64_t tag = model.varint();
        if (tag >> 3 != 1 || (tag & 7) != 2) {
            model.skip(static_cast<int>(tag & 7));
            continue;
        }
        const auto [p, n] = model.bytes();
        ProtoReader sp(p, n, path.string());
        Piece piece;
        while (!sp.done()) {
            const uint64_t t = sp.varint();
            const uint64_t field = t >> 3;
            const int wire = static_cast<int>(t & 7);
            if (field == 1 && wire == 2) {
                const auto [s, len] = sp.bytes();
                piece.text.assign(reinterpret_cast<const char*>(s), len);
            } else if (field == 2 && wire == 5) {
                const uint32_t bits = sp.fixed32();
                std::memcpy(&piece.score, &bits, 4);
            } else if (field == 3 && wire == 0) {
                piece.type = static_cast<int>(sp.varint());
            } else {
                sp.skip(wire);
            }
        }
        pieces.push_back(std::move(piece));
    }
    return pieces;
}

/// The merges of a tokenizer.json ("a b" strings, or ["a", "b"] pairs in newer files), empty when absent.
std::vector<std::string> tokenizerJsonMerges(const fs::path& path)
{
    std::vector<std::string> merges;
    const json j = readJsonFile(path, "tokenizer");
    if (!j.contains("model") || !j["model"].is_object() || !j["model"].contains("merges"))
        return merges;
    for (const auto& m : j["model"]["merges"]) {
        if (m.is_string())
            merges.push_back(m.get<std::string>());
        else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
            merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    }
    return merges;
}

class Report {
public:
    explicit Report(VerifyResult& r) : m_r(r) {}
    void problem(const std::string& what) { m_r.problems.push_back(what); }
    void note(const std::string& what) { m_r.notes.push_back(what); }
    bool expect(bool ok, const std::string& what)
    {
        if (!ok)
            problem(what);
        return ok;
    }

private:
    VerifyResult& m_r;
};

/// Counts of mismatches with the first example, for one message per kind.
struct Tally {
    int64_t count = 0;
    std::string first;
    void add(const std::string& example)
    {
        if (count++ == 0)
            first = example;
    }
    std::string text(const std::string& what) const
    {
        return std::to_string(count) + " " + what + " (first: " + first + ")";
    }
};

/// One special token id the file gives llama.cpp against the run's tokenizer's (`expected` < 0: the run has none).
void checkSpecialId(const GgufFile& gg, const char* key, int32_t expected, const char* what, Report& report)
{
    if (expected < 0)
        return;
    const auto id = gg.getInt(key);
    if (report.expect(id.has_value(), std::string("no ") + key + ": the run's tokenizer has " + what + " id " +
                                          std::to_string(expected)))
        report.expect(*id == expected, std::string(key) + " is " + std::to_string(*id) +
                                           ", the run's tokenizer has " + what + " id " + std::to_string(expected));
}

/// The BOS and EOS ids and the add-BOS flag against the run's tokenizer.
void checkSpecialTokens(const GgufFile& gg, const Tokenizer& tok, Report& report)
{
    checkSpecialId(gg, "tokenizer.ggml.bos_token_id", tok.bosId(), "BOS", report);
    checkSpecialId(gg, "tokenizer.ggml.eos_token_id", tok.eosId(), "EOS", report);
    if (const auto addBos = gg.getBool("tokenizer.ggml.add_bos_token"))
        report.expect(*addBos == tok.addBos(), std::string("tokenizer.ggml.add_bos_token is ") +
                                                   (*addBos ? "true" : "false") + " but the run's tokenizer " +
                                                   (tok.addBos() ? "prepends" : "does not prepend") + " BOS");
}

/// A 'llama' vocabulary: tokens, scores and types against the pieces of the run's tokenizer.model.
void compareSentencePieces(const fs::path& modelDir, const std::vector<std::string>& tokens,
                           const std::optional<std::vector<double>>& scores,
                           const std::optional<std::vector<int64_t>>& types, Report& report)
{
    const int64_t n = static_cast<int64_t>(tokens.size());
    const fs::path spm = modelDir / "tokenizer.model";
    if (!report.expect(fs::is_regular_file(spm), "tokenizer.ggml.model is 'llama' (sentencepiece) but the run's "
                                                 "model folder has no tokenizer.model"))
        return;
    const std::vector<Piece> pieces = readSentencePieces(spm);
    report.expect(static_cast<int64_t>(pieces.size()) == n, "the vocabulary has " + std::to_string(n) +
                                                                " tokens, the run's tokenizer.model " +
                                                                std::to_string(pieces.size()) + " pieces");
    Tally text, score, type;
    for (size_t i = 0; i < std::min(pieces.size(), tokens.size()); ++i) {
        if (tokens[i] != pieces[i].text)
            text.add("token " + std::to_string(i) + " '" + tokens[i] + "', piece '" + pieces[i].text + "'");
        if (scores && i < scores->size() && static_cast<float>((*scores)[i]) != pieces[i].score)
            score.add("token " + std::to_string(i) + ": " + num((*scores)[i]) + ", piece " + num(pieces[i].score));
        if (types && i < types->size() && (*types)[i] != pieces[i].type)
            type.add("token " + std::to_string(i) + ": " + std::to_string((*types)[i]) + ", piece " +
                     std::to_string(pieces[i].type));
    }
    report.expect(text.count == 0, text.text("tokens differ from the run's sentencepiece pieces"));
    report.expect(score.count == 0, score.text("token scores differ from the pieces' scores"));
    report.expect(type.count == 0, type.text("token types differ from the pieces' types"));
    report.expect(scores.has_value(), "no tokenizer.ggml.scores: llama.cpp's sentencepiece tokenizer needs them");
}

/// The file's merges against those of the run's tokenizer.json, in order.
void compareMerges(const fs::path& tokenizerJson, const std::vector<std::string>& merges, Report& report)
{
    const std::vector<std::string> expected = tokenizerJsonMerges(tokenizerJson);
    Tally diff;
    for (size_t i = 0; i < std::min(expected.size(), merges.size()); ++i)
        if (merges[i] != expected[i])
            diff.add("merge " + std::to_string(i) + " '" + merges[i] + "', tokenizer.json '" + expected[i] + "'");
    report.expect(merges.size() == expected.size(), "the file has " + std::to_string(merges.size()) +
                                                        " merges, the run's tokenizer.json " +
                                                        std::to_string(expected.size()));
    report.expect(diff.count == 0, diff.text("merges differ from tokenizer.json"));
}

/// A 'gpt2' vocabulary: merges and pre-tokenizer present, every token at its id in the run's byte-level BPE
/// tokenizer, and the merges those of its tokenizer.json.
void compareByteLevelBpe(const GgufFile& gg, const fs::path& modelDir, const std::vector<std::string>& tokens,
                         const Tokenizer& tok, Report& report)
{
    const int64_t n = static_cast<int64_t>(tokens.size());
    const auto merges = gg.getStringArray("tokenizer.ggml.merges");
    report.expect(merges && !merges->empty(), "tokenizer.ggml.model is 'gpt2' but tokenizer.ggml.merges is missing "
                                              "or empty");
    report.expect(gg.getString("tokenizer.ggml.pre").has_value(),
                  "no tokenizer.ggml.pre: llama.cpp falls back to its default pre-tokenizer, which splits text "
                  "differently from the run's tokenizer");
    int32_t probe = -1;
    if (!report.expect(byteLevelBpeLookup(tok, tokens[0], probe),
                       "tokenizer.ggml.model is 'gpt2' but the run's tokenizer is " + tok.describe()))
        return;
    Tally ids;
    for (int64_t i = 0; i < n; ++i) {
        int32_t id = -1;
        byteLevelBpeLookup(tok, tokens[static_cast<size_t>(i)], id);
        // Rows past the tokenizer's own size are padding the converter adds up to the embedding's size.
        if (id != i && (id >= 0 || i < tok.vocabSize()))
            ids.add("token " + std::to_string(i) + " '" + tokens[static_cast<size_t>(i)] + "' has id " +
                    std::to_string(id) + " in the run's tokenizer");
    }
    report.expect(ids.count == 0, ids.text("tokens are not at their ids in the run's tokenizer"));
    if (merges && fs::is_regular_file(modelDir / "tokenizer.json"))
        compareMerges(modelDir / "tokenizer.json", *merges, report);
}

/// The vocabulary embedded in the file against the run's tokenizer (the one the logits are computed with).
void checkVocabulary(const GgufFile& gg, const fs::path& modelDir, const ModelConfig& rm, const Tokenizer& tok,
                     Report& report)
{
    const auto model = gg.getString("tokenizer.ggml.model");
    const auto tokens = gg.getStringArray("tokenizer.ggml.tokens");
    if (!report.expect(model.has_value(), "no tokenizer.ggml.model: llama.cpp cannot tokenize with this file") ||
        !report.expect(tokens.has_value(), "no tokenizer.ggml.tokens: the file has no vocabulary"))
        return;
    if (!report.expect(!tokens->empty(), "tokenizer.ggml.tokens is empty"))
        return;
    const int64_t n = static_cast<int64_t>(tokens->size());
    report.expect(n == rm.vocabSize, "the vocabulary has " + std::to_string(n) +
                                         " tokens but the model's embedding has " + std::to_string(rm.vocabSize) +
                                         " rows (llama.cpp requires them to match)");
    checkSpecialTokens(gg, tok, report);
    const auto scores = gg.getFloatArray("tokenizer.ggml.scores");
    const auto types = gg.getIntArray("tokenizer.ggml.token_type");
    if (scores)
        report.expect(static_cast<int64_t>(scores->size()) == n, "tokenizer.ggml.scores has " +
                                                                     std::to_string(scores->size()) + " entries for " +
                                                                     std::to_string(n) + " tokens");
    if (types)
        report.expect(static_cast<int64_t>(types->size()) == n, "tokenizer.ggml.token_type has " +
                                                                    std::to_string(types->size()) + " entries for " +
                                                                    std::to_string(n) + " tokens");

    if (*model == "llama")
        compareSentencePieces(modelDir, *tokens, scores, types, report);
    else if (*model == "gpt2")
        compareByteLevelBpe(gg, modelDir, *tokens, tok, report);
    else
        report.problem("tokenizer.ggml.model is '" + *model +
                       "'; verification knows 'llama' (sentencepiece) and 'gpt2'");
}

/// The hyper-parameters llama.cpp reads, in the types its loader insists on.
void checkHyperParameters(const GgufFile& gg, const std::string& arch, const ModelConfig& rm, Report& report)
{
    auto uint32Key = [&](const std::string& key, int64_t expected) {
        const std::string full = arch + "." + key;
        const GgufValue* v = gg.find(full);
        if (!report.expect(v != nullptr, "no " + full + " (the run has " + std::to_string(expected) + ")"))
            return;
        if (!report.expect(v->type == GgufValueType::UInt32,
                           full + " is " + v->describe() + "; llama.cpp reads it as UINT32"))
            return;
        const auto got = static_cast<int64_t>(std::get<uint64_t>(v->data));
        report.expect(got == expected,
                      full + " is " + std::to_string(got) + ", the run has " + std::to_string(expected));
    };
    auto float32Key = [&](const std::string& key, double expected) {
        const std::string full = arch + "." + key;
        const GgufValue* v = gg.find(full);
        if (!report.expect(v != nullptr, "no " + full + " (the run has " + num(expected) + ")"))
            return;
        if (!report.expect(v->type == GgufValueType::Float32,
                           full + " is " + v->describe() + "; llama.cpp reads it as FLOAT32"))
            return;
        const double got = std::get<double>(v->data);
        report.expect(static_cast<float>(got) == static_cast<float>(expected),
                      full + " is " + num(got) + ", the run has " + num(expected));
    };
    uint32Key("block_count", rm.numLayers);
    uint32Key("embedding_length", rm.hiddenSize);
    uint32Key("feed_forward_length", rm.intermediateSize);
    uint32Key("attention.head_count", rm.numHeads);
    uint32Key("attention.head_count_kv", rm.numKvHeads);
    uint32Key("context_length", rm.maxPositionEmbeddings);
    uint32Key("rope.dimension_count", rm.headDim);
    float32Key("attention.layer_norm_rms_epsilon", rm.normEps);
    float32Key("rope.freq_base", rm.ropeTheta);
}

/// Rotary scaling: llama.cpp divides each base frequency by rope_freqs[i] (when that tensor exists) and by
/// rope.scaling.factor (type "linear"); the product must equal base / scaled frequency of the run's configuration.
void checkRopeScaling(const GgufFile& gg, const std::string& arch, const ModelConfig& rm, Report& report)
{
    const int64_t half = rm.headDim / 2;
    std::vector<double> divisor(static_cast<size_t>(half), 1.0);
    const auto type = gg.getString(arch + ".rope.scaling.type");
    if (type && *type == "linear") {
        const auto factor = gg.getFloat(arch + ".rope.scaling.factor");
        if (!report.expect(factor.has_value(), arch + ".rope.scaling.type is linear but there is no factor"))
            return;
        for (auto& d : divisor)
            d *= *factor;
    } else if (type && *type != "none") {
        report.problem(arch + ".rope.scaling.type is '" + *type + "'; the run uses " +
                       (rm.ropeScaling.type == RopeScaling::Type::None ? "no scaling" : "other scaling"));
        return;
    }
    if (const GgufTensorInfo* t = gg.findTensor("rope_freqs.weight")) {
        if (!report.expect(t->numElements == static_cast<uint64_t>(half) && t->typeInfo().decodable,
                           "rope_freqs.weight has " + std::to_string(t->numElements) + " values of type " +
                               t->typeInfo().name + ", expected " + std::to_string(half) + " F32 values"))
            return;
        const std::vector<float> f = gg.decodeFloats(*t);
        for (int64_t i = 0; i < half; ++i)
            divisor[static_cast<size_t>(i)] *= f[static_cast<size_t>(i)];
    }
    const torch::Tensor scaled = ropeInverseFrequencies(rm).to(torch::kFloat64);
    double worst = 0;
    for (int64_t i = 0; i < half; ++i) {
        const double base = std::pow(rm.ropeTheta, -static_cast<double>(2 * i) / static_cast<double>(rm.headDim));
        const double expected = base / scaled[i].item<double>();
        worst = std::max(worst, std::abs(divisor[static_cast<size_t>(i)] / expected - 1.0));
    }
    report.expect(worst <= 1e-5, "rotary scaling differs from the run's (frequency divisors off by up to " +
                                     num(100 * worst) + "%; rope.scaling.* and rope_freqs.weight)");
}

/// Where a GGUF tensor comes from in the run.
struct Source {
    std::string run;    ///< the run's tensor name; for biases the linear's bias name
    std::string block;  ///< block prefix ("model.layers.3."), empty outside the blocks
    std::string layer;  ///< block-relative linear ("self_attn.q_proj"); empty for norms and embeddings
    bool bias = false;
    int64_t ropeHeads = 0;  ///< llama q/k: heads whose rows are stored in llama.cpp's rotary order
    int64_t blockIndex = -1;  ///< the block's number, -1 outside the blocks
};

const std::vector<std::pair<const char*, const char*>> kLinearNames = {
    {"attn_q", "self_attn.q_proj"},      {"attn_k", "self_attn.k_proj"}, {"attn_v", "self_attn.v_proj"},
    {"attn_output", "self_attn.o_proj"}, {"ffn_gate", "mlp.gate_proj"},  {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"}};

/// Every tensor name a file of `arch` may hold for the run, in model order, with its source.
std::vector<std::pair<std::string, Source>> tensorMap(const ModelConfig& rm, const std::string& arch)
{
    std::vector<std::pair<std::string, Source>> m;
    auto plain = [](const std::string& run, const std::string& block) { return Source{run, block, {}, false, 0, -1}; };
    m.emplace_back("token_embd.weight", plain("model.embed_tokens.weight", ""));
    for (int64_t i = 0; i < rm.numLayers; ++i) {
        const std::string blk = "blk." + std::to_string(i) + ".";
        const std::string prefix = blockPrefix(rm, i);
        m.emplace_back(blk + "attn_norm.weight", plain(prefix + "input_layernorm.weight", prefix));
        for (const auto& [g, h] : kLinearNames) {
            if (std::string(g) == "ffn_gate")
                m.emplace_back(blk + "ffn_norm.weight", plain(prefix + "post_attention_layernorm.weight", prefix));
            int64_t heads = 0;
            if (arch == "llama" && std::string(g) == "attn_q")
                heads = rm.numHeads;
            if (arch == "llama" && std::string(g) == "attn_k")
                heads = rm.numKvHeads;
            m.emplace_back(blk + g + ".weight", Source{prefix + h + ".weight", prefix, h, false, heads, i});
            m.emplace_back(blk + g + ".bias", Source{prefix + h + ".bias", prefix, h, true, heads, i});
        }
    }
    m.emplace_back("output_norm.weight", plain("model.norm.weight", ""));
    m.emplace_back("output.weight", plain("lm_head.weight", ""));
    return m;
}

/// Rows of a [rows, ...] tensor put back into Hugging Face order.
torch::Tensor undoRopeRows(const torch::Tensor& t, int64_t heads)
{
    const std::vector<int64_t> source = llamaRopeRowSources(t.size(0), heads);
    auto index = torch::tensor(source, torch::kInt64);
    return torch::zeros_like(t).index_copy_(0, index, t);
}

double storageTolerance(GgmlType type)
{
    switch (type) {
    case GgmlType::F32:
        return 0;
    case GgmlType::BF16:
        return std::ldexp(1.0, -7);
    default:
        return std::ldexp(1.0, -10);
    }
}

/// The run's integer grid of one quantized linear.
struct RunGrid {
    torch::Tensor weight;  ///< float64 [out, in], Hugging Face row order
    torch::Tensor scales;  ///< float64 [out, groups]
    torch::Tensor zeros;   ///< float64 [out, groups]
    int bits = 4;
};

/// Result of comparing a block-typed tensor with the run's grid.
struct GridComparison {
    double maxAbsDiff = 0, maxAbsRef = 0, tolerance = 0;
    Tally codes, range, scales, mins, bound, straddle, offGrid;
    bool ok() const
    {
        return codes.count == 0 && range.count == 0 && scales.count == 0 && mins.count == 0 && bound.count == 0 &&
               straddle.count == 0 && offGrid.count == 0;
    }
};

/// Checks a quantized linear stored in a 32-weight block type against the run's grid, weight by weight:
///  - the code equals the run's q = round(W/s + z) (types with a min: code = q; Q4_0/Q5_0/Q8_0: code - offset = q - z),
///    and the run code it stands for lies in [0, 2^bits - 1];
///  - the block's d is the run's scale s rounded to float16: |d - s| <= u(s), u(x) being half a float16 ulp of x;
///  - its min m (Q4_1, Q5_1) is -s*z or -d*z rounded to float16: |m + s*z| <= max(u(s*z), u(d*z)) + |z|*|d - s|;
///  - so, since w_gguf - w_run = (d - s)*(code - offset) + (m + s*z) exactly, |w_gguf - w_run| <=
///    |code - offset|*|d - s| + |m + s*z| + 4e-6*s + 2^-23*|w_run| (the last two terms: the run's own float32 storage
///    of (q - z) * s). The tensor's tolerance is the largest such bound.
GridComparison compareGrid(const GgufBlockCodes& bc, const std::vector<int64_t>& rowSource, const RunGrid& grid)
{
    GridComparison c;
    const int64_t out = grid.weight.size(0), in = grid.weight.size(1), groups = grid.scales.size(1);
    const int64_t groupSize = groups == 1 ? in : (in + groups - 1) / groups;
    const int64_t blocksPerRow = in / 32;
    const int64_t qmax = (int64_t(1) << grid.bits) - 1;
    const double* w = grid.weight.data_ptr<double>();
    const double* s = grid.scales.data_ptr<double>();
    const double* z = grid.zeros.data_ptr<double>();
    for (int64_t r = 0; r < out; ++r) {
        const int64_t row = rowSource.empty() ? r : rowSource[static_cast<size_t>(r)];
        for (int64_t k = 0; k < blocksPerRow; ++k) {
            const int64_t b = r * blocksPerRow + k;
            const int64_t g = (k * 32) / groupSize;
            auto where = [&](int64_t col) { return "row " + std::to_string(row) + ", column " + std::to_string(col); };
            if ((k * 32 + 31) / groupSize != g)
                c.straddle.add("block of " + where(k * 32) + " spans two groups of " + std::to_string(groupSize));
            const double scale = s[row * groups + g], zero = z[row * groups + g];
            const double d = bc.scales[static_cast<size_t>(b)];
            const double m = bc.hasMin ? bc.mins[static_cast<size_t>(b)] : 0.0;
            if (!(std::abs(d - scale) <= halfUlpF16(scale)))
                c.scales.add(where(k * 32) + ": d " + num(d) + ", run scale " + num(scale));
            const double scaleError = std::abs(d - scale);
            const double minError = std::abs(m + scale * zero);
            if (bc.hasMin && !(minError <= std::max(halfUlpF16(scale * zero), halfUlpF16(d * zero)) +
                                               std::abs(zero) * std::min(scaleError, halfUlpF16(scale))))
                c.mins.add(where(k * 32) + ": m " + num(m) + ", run -s*z " + num(-scale * zero));
            for (int64_t j = 0; j < 32; ++j) {
                const int64_t col = k * 32 + j;
                const double ref = w[row * in + col];
                const double v = ref / scale + zero;
                const double q = std::nearbyint(v);
                if (std::abs(v - q) > 1e-3)
                    c.offGrid.add(where(col) + " is " + num(v - q) + " steps off the run's own grid");
                const int code = bc.codes[static_cast<size_t>(b * 32 + j)];
                const int centred = code - bc.codeOffset;
                const double expected = bc.hasMin ? q : q - zero + bc.codeOffset;
                if (code != expected)
                    c.codes.add(where(col) + ": code " + std::to_string(code) + ", the run's grid gives " +
                                num(expected));
                const double runCode = bc.hasMin ? code : centred + zero;
                if (runCode < 0 || runCode > static_cast<double>(qmax))
                    c.range.add(where(col) + ": code " + std::to_string(code) + " stands for " + num(runCode));
                const double got = d * centred + m;
                const double diff = std::abs(got - ref);
                const double bound = std::abs(centred) * std::min(scaleError, halfUlpF16(scale)) +
                                     (bc.hasMin ? minError : 0.0) + 4e-6 * scale + std::ldexp(std::abs(ref), -23);
                if (!(diff <= bound))
                    c.bound.add(where(col) + ": differs by " + num(diff) + " > " + num(bound));
                c.maxAbsDiff = std::max(c.maxAbsDiff, diff);
                c.maxAbsRef = std::max(c.maxAbsRef, std::abs(ref));
                c.tolerance = std::max(c.tolerance, bound);
            }
        }
    }
    return c;
}

/// Tolerance of a full-precision tensor of the run stored in a block type: half a step of the block's grid plus the
/// float16 rounding of its factors, d * (1/2 + (codeMax - codeMin + 1) * 2^-11) + 2^-11 * |m|, largest over the blocks.
double blockRoundingTolerance(const GgufBlockCodes& bc)
{
    double tol = 0;
    for (size_t b = 0; b < bc.scales.size(); ++b) {
        const double d = std::abs(bc.scales[b]), m = bc.hasMin ? std::abs(bc.mins[b]) : 0.0;
        tol = std::max(tol, d * (0.5 + (bc.codeMax - bc.codeMin + 1) * std::ldexp(1.0, -11)) + std::ldexp(m, -11));
    }
    return tol;
}

/// A GGUF file and its run, opened once, with what the verification's steps fill in. Construction reads the run,
/// opens the file and the run's model, and refuses a run that is not of the LLaMA family.
struct GgufVerification {
    GgufVerification(const VerifyOptions& options, const ProgressFn& progressFn, const CancelToken* cancelFlag,
                     VerifyResult& result)
        : o(options), cancel(cancelFlag), r(result), report(result),
          run(readRun(options.runDir)),  // a finished run, checked as export checks it
          gg(options.exportDir), device(parseDevice(options.device)), modelDir(fs::path(options.runDir) / "model"),
          runCk(modelDir.string()), rm(runCk.config()), progress(progressFn)
    {
        if (rm.arch != Architecture::Llama)
            badInput("the run is of a " + rm.modelType +
                     " model; GGUF exports are made of LLaMA-family runs (llama, "
                     "mistral, qwen2)");
        r.runActivationBits = rm.activationBits;
        if (run.wbits < 16 && fs::exists(modelDir / "quantization.safetensors"))
            quant = std::make_unique<SafetensorsFile>((modelDir / "quantization.safetensors").string());
    }

    const VerifyOptions& o;
    const std::atomic<bool>* cancel;
    VerifyResult& r;
    Report report;
    const RunInfo run;
    const GgufFile gg;
    const torch::Device device;
    const fs::path modelDir;  ///< the run's model folder
    Checkpoint runCk;
    const ModelConfig& rm;
    std::unique_ptr<SafetensorsFile> quant;  ///< the run's grid factors, when its weights are quantized
    std::string arch;                        ///< the file's general.architecture
    BlockLayout layout;
    ExportedModel model;
    bool complete = true;  ///< every tensor the logits need was read
    const ProgressFn& progress;
    const ProgressClock clock;
    int64_t progressTotal = 1;  ///< the file's tensors, and one unit more for the logits

    void reportProgress(int64_t done) const
    {
        if (progress)
            progress(clock.at(done, progressTotal));
    }
    // Which kinds of comparison were made, for their notes.
    bool anyGrid = false, anyFloatLinear = false, anyKQuant = false, anyQ6kEmbedding = false;
};

/// Architecture, hyper-parameters, rotary scaling.
void checkArchitecture(GgufVerification& v)
{
    const GgufFile& gg = v.gg;
    const ModelConfig& rm = v.rm;
    const auto archValue = gg.getString("general.architecture");
    if (!archValue)
        badInput("'" + v.o.exportDir + "' has no general.architecture; it is not a model file llama.cpp can load");
    v.arch = *archValue;
    const std::string& arch = v.arch;
    if (arch != "llama" && arch != "qwen2")
        badInput("'" + v.o.exportDir + "' is a GGUF of architecture '" + arch +
                 "'; verification maps 'llama' and 'qwen2' files back to a run");
    v.r.notes.push_back("GGUF v" + std::to_string(gg.version()) + ", architecture '" + arch + "', " +
                        std::to_string(gg.tensors().size()) + " tensors, data aligned to " +
                        std::to_string(gg.alignment()) + " bytes" +
                        (arch == "llama" ? "; q/k rows read back from llama.cpp's rotary order" : ""));
    checkHyperParameters(gg, arch, rm, v.report);
    checkRopeScaling(gg, arch, rm, v.report);
    if (rm.slidingWindow)
        v.r.notes.push_back("the run's model has a sliding window of " + std::to_string(*rm.slidingWindow) +
                            " tokens, which llama.cpp's '" + arch + "' graph does not apply: exact up to that length");
}

/// Every tensor of the file must map to the run.
void rejectUnknownTensors(GgufVerification& v, const std::vector<std::pair<std::string, Source>>& sources)
{
    std::set<std::string> known = {"rope_freqs.weight"};
    for (const auto& [name, src] : sources)
        known.insert(name);
    for (const auto& t : v.gg.tensors())
        if (!known.count(t.name))
            v.report.problem("unexpected tensor " + t.name +
                             " (llama.cpp refuses files with tensors it does not load)");
}

/// Puts a decoded tensor of the file where the exported model's forward pass reads it.
void setTensor(GgufVerification& v, const Source& src, const std::string& gname, const torch::Tensor& value)
{
    ExportedModel& model = v.model;
    if (gname == "token_embd.weight")
        model.embed = value.to(v.device);
    else if (gname == "output_norm.weight")
        model.normWeight = value.to(v.device);
    else if (gname == "output.weight")
        model.lmHead = value.to(v.device);
    else {
        const int64_t i = std::stoll(gname.substr(4, gname.find('.', 4) - 4));
        model.blocks[static_cast<size_t>(i)].tensors[src.run.substr(src.block.size())] = value.to(v.device);
    }
}

/// The bias the file should hold for a linear: the run's own plus, for q/k/v and gate/up, the preceding RMSNorm's
/// bias folded through the weight (b + W beta), computed here in float64; and whether a norm bias was folded.
std::pair<torch::Tensor, bool> expectedBias(const GgufVerification& v, const Source& src)
{
    const Checkpoint& runCk = v.runCk;
    const BlockLayout& layout = v.layout;
    const std::string wname = src.block + src.layer + ".weight";
    const int64_t out = runCk.shape(wname)[0];
    torch::Tensor b =
        runCk.contains(src.run) ? runCk.load(src.run).to(torch::kFloat64) : torch::zeros({out}, torch::kFloat64);
    bool folded = false;
    const bool qkv = std::find(layout.qkv.begin(), layout.qkv.end(), src.layer) != layout.qkv.end();
    const bool fc1 = std::find(layout.fc1.begin(), layout.fc1.end(), src.layer) != layout.fc1.end();
    const std::string norm = qkv ? layout.norm1 : fc1 ? layout.norm2 : std::string();
    if (!norm.empty() && runCk.contains(src.block + norm + ".bias")) {
        const torch::Tensor beta = runCk.load(src.block + norm + ".bias").to(torch::kFloat64);
        b = b + torch::matmul(runCk.load(wname).to(torch::kFloat64), beta);
        folded = true;
    }
    return {b, folded};
}

/// A tensor the file lacks: a problem unless it is a bias that is zero in the run (and not one qwen2's graph adds) or
/// an output layer tied to the embeddings; any other missing tensor also stops the logits comparison.
void reportMissingTensor(GgufVerification& v, const std::string& gname, const Source& src, bool isOutput)
{
    if (src.bias) {
        // Absent biases are fine where the run's (folded) bias is zero, except q/k/v in qwen2's graph.
        const auto [b, folded] = expectedBias(v, src);
        const bool qwenQkv = v.arch == "qwen2" &&
                             std::find(v.layout.qkv.begin(), v.layout.qkv.end(), src.layer) != v.layout.qkv.end();
        if (qwenQkv)
            v.report.problem("missing tensor " + gname + " (llama.cpp's qwen2 graph adds q/k/v biases)");
        else if (b.ne(0).any().item<bool>())
            v.report.problem("missing tensor " + gname + ": the run's " + src.run +
                             (folded ? " (with the norm bias folded in)" : "") + " is not zero");
        return;
    }
    if (isOutput && !v.runCk.contains("lm_head.weight"))
        return;  // tied embeddings: llama.cpp reuses token_embd
    v.report.problem("missing tensor " + gname + " (the run's " + src.run + ")");
    v.complete = false;
}

/// Decoded values in the run's orientation and row order.
torch::Tensor decodeInRunOrder(const GgufFile& gg, const GgufTensorInfo& t, const Source& src,
                               const std::vector<int64_t>& runShape)
{
    torch::Tensor value =
        torch::from_blob(gg.decodeFloats(t).data(), {static_cast<int64_t>(t.numElements)}, torch::kFloat32)
            .clone()
            .reshape(runShape);
    if (src.ropeHeads > 0)
        value = src.bias ? undoRopeRows(value.unsqueeze(1), src.ropeHeads).squeeze(1)
                         : undoRopeRows(value, src.ropeHeads);
    return value;
}

/// One tensor of the file, decoded, with its source in the run.
struct FileTensor {
    const std::string& gname;
    const Source& src;
    const GgufTensorInfo& t;
    const GgmlTypeInfo& info;
    const std::string& runName;           ///< the run's tensor it is compared with
    const std::vector<int64_t>& runShape;
    const torch::Tensor& value;           ///< float32, in the run's orientation and row order
    bool isOutput;
    bool quantizedLinear;                 ///< a linear's weight the run quantized
};

/// A bias against the run's, with the preceding norm's bias folded in where the run has one.
void compareBias(const GgufVerification& v, const FileTensor& f, TensorDifference& d)
{
    const auto [ref, folded] = expectedBias(v, f.src);
    d.name = f.src.run;
    d.maxAbsRef = ref.abs().max().item<double>();
    d.maxAbsDiff = (f.value.to(torch::kFloat64) - ref).abs().max().item<double>();
    // A folded bias is a float64 result stored in the file's type: F32 rounding at least.
    const double rel =
        folded ? std::max(storageTolerance(f.info.type), std::ldexp(1.0, -23)) : storageTolerance(f.info.type);
    d.tolerance = rel * d.maxAbsRef + 1e-12;
    if (folded)
        d.source += " (norm bias folded in)";
    d.ok = d.maxAbsDiff <= d.tolerance;
}

/// A k-quant grid: the file must decode to exactly the values the calibration's grid gives (its factors from
/// quantization.safetensors, its codes recovered from the run's weights, llama.cpp's float32 arithmetic), and those
/// lie within the model's storage rounding of the run's weights.
void compareKQuantGrid(GgufVerification& v, const FileTensor& f, TensorDifference& d)
{
    const SafetensorsFile& quant = *v.quant;
    const std::string layer = f.src.block + f.src.layer;
    const torch::Tensor w = v.runCk.load(layer + ".weight").to(torch::kFloat32);
    const KQuantFactors factors{quant.load(layer + ".kq_d"), quant.load(layer + ".kq_dmin"),
                                quant.load(layer + ".kq_scales"), quant.load(layer + ".kq_mins")};
    const WeightGrid grid = tensorGrid(v.run.weightGrid, linearRole(blockLayout(v.rm), f.src.layer), f.src.blockIndex,
                                       v.rm.numLayers, v.rm);
    const torch::Tensor expected = kquantValues(kquantCodes(w, grid, factors), grid, factors);
    const std::string want = gguf::typeName(gguf::kquantType(grid));
    const int64_t differ = f.value.ne(expected).sum().item<int64_t>();
    v.report.expect(f.info.name == want, f.gname + " is " + f.info.name + ", the run's grid is " + want);
    v.report.expect(differ == 0, f.gname + " (" + f.info.name + ", the run's " + layer + "): " +
                                     std::to_string(differ) + " of " + std::to_string(f.value.numel()) +
                                     " weights differ from the calibrated grid's values");
    d.maxAbsRef = w.abs().max().item<double>();
    d.maxAbsDiff = (f.value.to(torch::kFloat64) - w.to(torch::kFloat64)).abs().max().item<double>();
    d.tolerance = storageTolerance(GgmlType::F16) * d.maxAbsRef + 1e-12;
    d.ok = differ == 0 && f.info.name == want && d.maxAbsDiff <= d.tolerance;
    d.source += " (the calibrated " + std::string(weightGridName(grid)) + " grid, bit for bit)";
    v.anyKQuant = true;
}

/// A quantized linear in a 32-weight block type: codes and block factors against the run's integer grid.
void compareBlockGrid(GgufVerification& v, const FileTensor& f, TensorDifference& d)
{
    v.anyGrid = true;
    RunGrid grid;
    const std::string layer = f.src.block + f.src.layer;
    grid.weight = v.runCk.load(layer + ".weight").to(torch::kFloat64).contiguous();
    grid.scales = v.quant->load(layer + ".scales").to(torch::kFloat64).contiguous();
    grid.zeros = v.quant->load(layer + ".zeros").to(torch::kFloat64).contiguous();
    grid.bits = v.run.wbits;
    const GgufBlockCodes bc = v.gg.decodeBlocks(f.t);
    const std::vector<int64_t> rows =
        f.src.ropeHeads > 0 ? llamaRopeRowSources(f.runShape[0], f.src.ropeHeads) : std::vector<int64_t>();
    const GridComparison c = compareGrid(bc, rows, grid);
    d.maxAbsDiff = c.maxAbsDiff;
    d.maxAbsRef = c.maxAbsRef;
    d.tolerance = c.tolerance;
    d.ok = c.ok();
    const std::string what = f.gname + " (" + f.info.name + ", the run's " + layer + "): ";
    Report& report = v.report;
    report.expect(c.codes.count == 0, what + c.codes.text("codes differ from the run's grid"));
    report.expect(c.range.count == 0,
                  what + c.range.text("codes outside the run's " + std::to_string(v.run.wbits) + "-bit range"));
    report.expect(c.scales.count == 0, what + c.scales.text("block scales are not the run's scale in float16"));
    report.expect(c.mins.count == 0, what + c.mins.text("block mins are not the run's -scale*zero in float16"));
    report.expect(c.straddle.count == 0, what + c.straddle.text("blocks straddle the run's groups"));
    report.expect(c.bound.count == 0, what + c.bound.text("weights differ beyond float16 block-factor rounding"));
    report.expect(c.offGrid.count == 0, what + c.offGrid.text("of the run's weights are off its own grid"));
}

/// --token-embedding-type q6_k: the run's floats on the Q6_K grid with full-range sub-block scales and nearest codes,
/// bit for bit.
void compareQ6kRounding(GgufVerification& v, const FileTensor& f, TensorDifference& d)
{
    const torch::Tensor w = v.runCk.load(f.runName).to(torch::kFloat32);
    const int64_t differ = f.value.ne(kquantRound(w, WeightGrid::Q6_K)).sum().item<int64_t>();
    v.report.expect(differ == 0, f.gname + " (Q6_K): " + std::to_string(differ) + " of " +
                                     std::to_string(f.value.numel()) + " values differ from the run's " + f.runName +
                                     " rounded to Q6_K");
    d.maxAbsRef = w.abs().max().item<double>();
    d.maxAbsDiff = (f.value.to(torch::kFloat64) - w.to(torch::kFloat64)).abs().max().item<double>();
    d.tolerance = d.maxAbsDiff;
    d.ok = differ == 0;
    d.source += " (the run's values rounded to Q6_K, bit for bit)";
    v.anyQ6kEmbedding = true;
}

/// Any other tensor: the decoded values against the run's, within the rounding of the file's type.
void compareValues(GgufVerification& v, const FileTensor& f, TensorDifference& d)
{
    const torch::Tensor ref = v.runCk.load(f.runName).to(torch::kFloat64);
    d.maxAbsRef = ref.abs().max().item<double>();
    d.maxAbsDiff = (f.value.to(torch::kFloat64) - ref).abs().max().item<double>();
    if (f.info.simpleBlocks)
        d.tolerance = blockRoundingTolerance(v.gg.decodeBlocks(f.t)) + 1e-12;
    else
        d.tolerance = storageTolerance(f.info.type) * d.maxAbsRef + 1e-12;
    d.ok = d.maxAbsDiff <= d.tolerance;
    if (f.quantizedLinear) {
        v.anyFloatLinear = true;
        if (!f.info.simpleBlocks)
            d.source += " (dequantized values; no ggml block type holds this grid)";
    }
}

/// Records a tensor's difference; a quantized linear's may be the worst, and one out of tolerance is a problem
/// (block-typed linears have reported theirs already).
void recordDifference(GgufVerification& v, const FileTensor& f, const TensorDifference& d)
{
    VerifyResult& r = v.r;
    if (d.quantizedLinear && d.maxAbsDiff >= r.maxWeightDiff) {
        r.maxWeightDiff = d.maxAbsDiff;
        r.worstLayer = d.name;
    }
    if (!d.ok && !(f.quantizedLinear && f.info.simpleBlocks))
        v.report.problem(d.name + " (" + d.source + "): max difference " + num(d.maxAbsDiff) +
                         " exceeds the storage tolerance " + num(d.tolerance));
    r.tensors.push_back(d);
}

/// One tensor the file may hold, against its source in the run; decoded into the exported model when present.
void compareTensor(GgufVerification& v, const std::string& gname, const Source& src)
{
    const GgufTensorInfo* t = v.gg.findTensor(gname);
    const bool isOutput = gname == "output.weight";
    if (!t) {
        reportMissingTensor(v, gname, src, isOutput);
        return;
    }
    if (src.bias && v.arch == "qwen2" && src.layer != "self_attn.q_proj" && src.layer != "self_attn.k_proj" &&
        src.layer != "self_attn.v_proj")
        v.report.problem(gname + ": llama.cpp's qwen2 graph has no " + src.layer + " bias, so it would not load");
    const std::string runName =
        isOutput && !v.runCk.contains("lm_head.weight") ? "model.embed_tokens.weight" : src.run;
    const GgmlTypeInfo& info = t->typeInfo();
    const std::vector<int64_t> runShape =
        src.bias ? std::vector<int64_t>{v.runCk.shape(src.block + src.layer + ".weight")[0]} : v.runCk.shape(runName);
    if (!v.report.expect(t->shape() == runShape, gname + " has shape " + shapeText(t->shape()) + ", the run's " +
                                                     runName + " " + shapeText(runShape)) ||
        !v.report.expect(info.decodable, gname + " is " + info.name + ", which verification cannot decode")) {
        v.complete = false;
        return;
    }
    const torch::Tensor value = decodeInRunOrder(v.gg, *t, src, runShape);
    setTensor(v, src, gname, value);

    TensorDifference d;
    d.name = runName;
    d.source = std::string(info.name) + " " + gname;
    const bool quantizedLinear =
        !src.bias && !src.layer.empty() && v.quant && v.quant->contains(src.block + src.layer + ".scales");
    d.quantizedLinear = quantizedLinear;
    const FileTensor f{gname, src, *t, info, runName, runShape, value, isOutput, quantizedLinear};
    if (src.bias)
        compareBias(v, f, d);
    else if (quantizedLinear && v.run.weightGrid != WeightGrid::Uniform)
        compareKQuantGrid(v, f, d);
    else if (quantizedLinear && info.simpleBlocks)
        compareBlockGrid(v, f, d);
    else if (!quantizedLinear && std::string(info.name) == "Q6_K" && (gname == "token_embd.weight" || isOutput))
        compareQ6kRounding(v, f, d);
    else
        compareValues(v, f, d);
    recordDifference(v, f, d);
}

/// Tensors: every one of the file must map to the run, every one the run needs must be there; each is compared with
/// the run's and put into the exported model.
void compareTensors(GgufVerification& v)
{
    const std::vector<std::pair<std::string, Source>> sources = tensorMap(v.rm, v.arch);
    rejectUnknownTensors(v, sources);
    v.layout = blockLayout(v.rm);
    v.model.config = v.rm;
    v.model.config.activationBits = 16;
    v.model.blocks.resize(static_cast<size_t>(v.rm.numLayers));
    v.r.maxWeightDiff = 0;
    v.progressTotal = static_cast<int64_t>(sources.size()) + 1;
    int64_t done = 0;
    for (const auto& [gname, src] : sources) {
        throwIfCancelled(v.cancel, "verification");
        compareTensor(v, gname, src);
        v.reportProgress(++done);
    }
}

/// Run tensors a GGUF cannot carry.
void checkRunOnlyTensors(GgufVerification& v)
{
    for (const auto& name : v.runCk.names()) {
        if (name.size() > 12 && name.compare(name.size() - 12, 12, ".post_matrix") == 0)
            v.report.problem("the run keeps the dense post-norm matrix " + name +
                             ", which llama.cpp cannot apply: this file cannot compute the run's model");
        else if (name == "model.norm.bias" && v.runCk.load(name).ne(0).any().item<bool>())
            v.report.problem("the run's final norm has a bias, which llama.cpp's output_norm cannot hold");
    }
}

/// What each kind of tensor comparison that was made checks.
void noteTensorComparisons(GgufVerification& v)
{
    std::vector<std::string>& notes = v.r.notes;
    if (v.anyGrid)
        notes.push_back(
            "block-typed linears: codes must equal the run's round(W/s + z), d must be the scale s rounded "
            "to float16 (|d - s| <= u(s), u(x) half a float16 ulp of x) and m (Q4_1/Q5_1) -s*z or -d*z "
            "rounded (|m + s*z| <= u(s*z) + |z|*|d - s|); then |w_gguf - w_run| <= |q - z|*|d - s| + "
            "|m + s*z| + 4e-6*s + 2^-23*|w| per weight (code q - z for Q4_0/Q5_0/Q8_0, q and m for "
            "Q4_1/Q5_1); the tolerance shown is the largest such bound in the tensor");
    if (v.anyKQuant)
        notes.push_back("k-quant linears: every decoded weight must equal, bit for bit, the value of the grid the run "
                        "calibrated (its sub-block factors from quantization.safetensors, its codes from the run's "
                        "weights, llama.cpp's float32 arithmetic (d*sc)*q - dmin*m)");
    if (v.anyQ6kEmbedding)
        notes.push_back("token embeddings (or the output layer) as Q6_K: every decoded value must equal, bit for bit, "
                        "the run's value rounded to Q6_K (each sub-block's full range, nearest codes); the logits "
                        "below then include that rounding, which the run's own evaluation does not have");
    if (v.anyFloatLinear)
        notes.push_back("some quantized linears are stored as floats (no ggml block type holds their grid): compared "
                        "with the storage type's rounding (F16 2^-10, BF16 2^-7 of the largest |w|)");
}

/// The tokens of `textPath` with the run's tokenizer, or seeded random ids without a text.
std::vector<int32_t> verificationTokens(GgufVerification& v, const Tokenizer& tokenizer, const std::string& textPath)
{
    VerifyResult& r = v.r;
    std::vector<int32_t> tokens;
    if (!textPath.empty()) {
        tokens = detail::encodeForModelCancellable(tokenizer, readTextForModel(textPath), v.cancel);
        r.text = textPath;
        r.notes.push_back("text tokenized with the run's tokenizer; the file's vocabulary was compared with it "
                          "token by token");
    } else {
        tokens = randomVerificationTokens(4 * r.seqlen, v.rm.vocabSize);
        r.text = "random tokens";
        r.notes.push_back("no --text: logits compared on seeded random tokens; perplexity not computed");
    }
    return tokens;
}

/// Logits: the run's model and the file's weights through the same forward pass, on the run's tokenizer.
void compareGgufLogits(GgufVerification& v, const Tokenizer& tokenizer)
{
    VerifyResult& r = v.r;
    try {
        const std::string textPath = verificationTextPath(v.o.textPath, v.run.sourceModel);
        r.seqlen = v.o.seqlen > 0 ? v.o.seqlen : std::min<int64_t>(512, v.rm.maxPositionEmbeddings);
        v.rm.checkSequenceLength(r.seqlen);
        const std::vector<int32_t> tokens = verificationTokens(v, tokenizer, textPath);
        if (static_cast<int64_t>(tokens.size()) < r.seqlen)
            badInput("the text has fewer than " + std::to_string(r.seqlen) + " tokens; lower --seqlen");
        CausalLM reference(v.runCk, v.device, torch::kFloat32);
        compareLogits(reference, v.model, tokens, v.o.maxWindows, !textPath.empty(), v.device, r,
                      [&v]() { throwIfCancelled(v.cancel, "verification"); });
    } catch (const Error&) {
        throw;
    } catch (...) {
        rethrowAsAqError(std::current_exception(), "use --device cuda or a machine with more memory");
    }
}

}  // namespace

VerifyResult verifyGgufExport(const VerifyOptions& o, const ProgressFn& progress, const CancelToken* cancel)
{
    VerifyResult r;
    r.format = "gguf";
    GgufVerification v(o, progress, cancel, r);
    checkArchitecture(v);

    // Vocabulary.
    const std::unique_ptr<Tokenizer> tokenizer = loadTokenizer(v.modelDir.string());
    checkVocabulary(v.gg, v.modelDir, v.rm, *tokenizer, v.report);

    compareTensors(v);
    checkRunOnlyTensors(v);
    noteTensorComparisons(v);
    if (!v.complete) {
        r.notes.push_back("logits not compared: some tensors are missing or could not be decoded");
        r.ok = false;
        return r;
    }
    if (!v.model.lmHead.defined())
        v.model.lmHead = v.model.embed;

    compareGgufLogits(v, *tokenizer);
    v.reportProgress(v.progressTotal);
    if (r.runActivationBits < 16)
        r.notes.push_back("the run's model quantizes activations to " + std::to_string(r.runActivationBits) +
                          " bits, the file does not: logits and perplexity differ by design");
    r.ok = r.problems.empty();
    return r;
}

}  // namespace aq::detail
