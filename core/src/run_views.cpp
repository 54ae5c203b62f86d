// Keeping a run's views in its folder (aq/run_views.h) and reading them back.
#include "run_views.h"

#include "aq/run_file.h"

#include "aq/error.h"
#include "jsonutil.h"
#include "safetensors.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace fs = std::filesystem;

namespace aq {
namespace detail {
namespace {

constexpr const char* kFormatName = "affinequant-views";
/// Bounds a damaged file cannot get past: no view shows more than this many values per array, no model has more
/// blocks, and the engine's snapshots are at most 128 x 128 (downsampled above that).
constexpr int64_t kMaxArray = int64_t(1) << 28;
constexpr int kMaxBlocks = 4096;
constexpr int64_t kMaxSnapshotSide = 128;

/// JSON has no NaN or infinity; a condition estimate can be infinite and a loss NaN, so those are strings.
nlohmann::json number(double v)
{
    if (std::isfinite(v))
        return v;
    return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
}

}  // namespace

struct ViewRecorder::Kept {
    nlohmann::json events = nlohmann::json::array();
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    int block = -1;

    std::string add(const std::vector<float>& v, std::vector<int64_t> shape = {})
    {
        if (v.empty())
            return {};
        if (shape.empty())
            shape = {static_cast<int64_t>(v.size())};
        const std::string name = "t" + std::to_string(tensors.size());
        tensors.emplace_back(name, torch::from_blob(const_cast<float*>(v.data()), shape, torch::kFloat32).clone());
        return name;
    }
    std::string add(const std::vector<int64_t>& v)
    {
        if (v.empty())
            return {};
        const std::string name = "t" + std::to_string(tensors.size());
        tensors.emplace_back(name, torch::from_blob(const_cast<int64_t*>(v.data()), {static_cast<int64_t>(v.size())},
                                                    torch::kInt64)
                                       .clone());
        return name;
    }
    void push(int blk, nlohmann::json e)
    {
        if (block < 0)
            block = blk;
        events.push_back(std::move(e));
    }
};

fs::path runViewsFile(const fs::path& runDir, int block)
{
    return runDir / "views" / ("block_" + std::to_string(block) + ".safetensors");
}

uint64_t estimateRunViewsBytes(int64_t hiddenSize, int64_t intermediateSize, int epochs)
{
    const uint64_t side = static_cast<uint64_t>(std::min<int64_t>(hiddenSize, 128));
    const uint64_t perEpoch = 4 * (2 * side * side * 4 + static_cast<uint64_t>(hiddenSize) * 4) + 64 * 1024;
    const uint64_t profiles = 2 * 4 * static_cast<uint64_t>(std::max(hiddenSize, intermediateSize)) * 4;
    return static_cast<uint64_t>(std::max(epochs, 1)) * perEpoch + profiles + 256 * 1024;
}

ViewRecorder::ViewRecorder(CalibrationObserver& next) : m_next(next), m_kept(std::make_unique<Kept>()) {}
ViewRecorder::~ViewRecorder() = default;

void ViewRecorder::discard() { m_kept = std::make_unique<Kept>(); }

void ViewRecorder::writeBlock(const fs::path& runDir, int block)
{
    const fs::path path = runViewsFile(runDir, block);
    fs::create_directories(path.parent_path());
    std::map<std::string, std::string> meta = {{"format", kFormatName},
                                               {"format_version", std::to_string(kRunViewsFormatVersion)},
                                               {"block", std::to_string(block)},
                                               {"events", m_kept->events.dump()}};
    writeSafetensors(path.string(), m_kept->tensors, meta);
    discard();
}

void ViewRecorder::stage(Stage what, int block, int numBlocks) { m_next.stage(what, block, numBlocks); }
void ViewRecorder::log(const std::string& line) { m_next.log(line); }

void ViewRecorder::stepLoss(const StepLoss& s)
{
    m_kept->push(s.block, {{"event", "step"}, {"epoch", s.epoch}, {"step", s.step}, {"loss", number(s.loss)},
                           {"steps_per_epoch", s.stepsPerEpoch}});
    m_next.stepLoss(s);
}

void ViewRecorder::epochFinished(const EpochSummary& e)
{
    m_kept->push(e.block, {{"event", "epoch"}, {"epoch", e.epoch}, {"epochs", e.epochs},
                           {"mean_loss", number(e.meanLoss)}, {"seconds", number(e.seconds)},
                           {"band_width", e.bandWidth}});
    m_next.epochFinished(e);
}

void ViewRecorder::matrixDiagnostics(const MatrixDiagnostics& d)
{
    m_kept->push(d.block, {{"event", "diagnostics"}, {"epoch", d.epoch}, {"transform", siteName(d.transform)},
                           {"size", d.size}, {"row_margins", m_kept->add(d.rowMargins)},
                           {"min_margin", number(d.minMargin)}, {"median_margin", number(d.medianMargin)},
                           {"non_dominant_rows", d.nonDominantRows},
                           {"condition_estimate", number(d.conditionEstimate)}, {"band_width", d.bandWidth}});
    m_next.matrixDiagnostics(d);
}

void ViewRecorder::matrixSnapshot(const MatrixSnapshot& m)
{
    const bool shaped = static_cast<int64_t>(m.values.size()) == m.rows * m.cols;
    nlohmann::json e = {{"event", "snapshot"}, {"epoch", m.epoch}, {"transform", siteName(m.transform)},
                        {"rows", m.rows}, {"cols", m.cols}, {"stride", m.stride}};
    e["values"] = m_kept->add(m.values, shaped ? std::vector<int64_t>{m.rows, m.cols} : std::vector<int64_t>{});
    e["mask"] = m_kept->add(m.mask, static_cast<int64_t>(m.mask.size()) == m.rows * m.cols
                                        ? std::vector<int64_t>{m.rows, m.cols}
                                        : std::vector<int64_t>{});
    m_kept->push(m.block, std::move(e));
    m_next.matrixSnapshot(m);
}

void ViewRecorder::activationProfile(const ActivationProfile& a)
{
    m_kept->push(a.block, {{"event", "activation"},
                           {"site", siteName(a.site)},
                           {"before", m_kept->add(a.absMaxBefore)},
                           {"after", m_kept->add(a.absMaxAfter)},
                           {"layers", a.layers}});
    m_next.activationProfile(a);
}

void ViewRecorder::weightHistogram(const WeightHistogram& h)
{
    m_kept->push(h.block, {{"event", "histogram"},
                           {"layer", h.layer},
                           {"bin_edges", m_kept->add(h.binEdges)},
                           {"counts", m_kept->add(h.counts)},
                           {"clip_low", number(h.clipLow)},
                           {"clip_high", number(h.clipHigh)},
                           {"grid", m_kept->add(h.grid)},
                           {"clip_low_min", number(h.clipLowMin)},
                           {"clip_low_max", number(h.clipLowMax)},
                           {"clip_high_min", number(h.clipHighMin)},
                           {"clip_high_max", number(h.clipHighMax)},
                           {"clipped_below", h.clippedBelow},
                           {"clipped_above", h.clippedAbove}});
    m_next.weightHistogram(h);
}

void ViewRecorder::recovery(const Recovery& r)
{
    m_kept->push(r.block, {{"event", "recovery"}, {"epoch", r.epoch}, {"reason", r.reason}, {"action", r.action}});
    m_next.recovery(r);
}

void ViewRecorder::blockFinished(const BlockSummary& b)
{
    m_kept->push(b.block, {{"event", "block"}, {"num_blocks", b.numBlocks}, {"initial_loss", number(b.initialLoss)},
                           {"final_loss", number(b.finalLoss)}, {"seconds", number(b.seconds)},
                           {"per_channel_fallback", b.perChannelFallback}});
    m_next.blockFinished(b);
}

}  // namespace detail

namespace {

using detail::SafetensorsFile;

/// One block's file, parsed and checked completely before anything is replayed.
class BlockReader {
public:
    BlockReader(const fs::path& path, int block) : m_file(path.string()), m_block(block), m_where("'" + path.string() + "'")
    {
        const auto& meta = m_file.metadata();
        auto field = [&](const char* key) -> std::string {
            const auto it = meta.find(key);
            if (it == meta.end())
                fail(std::string("has no '") + key + "' entry");
            return it->second;
        };
        if (field("format") != detail::kFormatName)
            fail("is not a views file of a run");
        int version = 0;
        try {
            version = std::stoi(field("format_version"));
        } catch (const std::exception&) {
            fail("has an unreadable format_version");
        }
        if (version > kRunViewsFormatVersion)
            fail("has views format " + std::to_string(version) + "; this program reads up to " +
                 std::to_string(kRunViewsFormatVersion) + ": open the run with a newer version of AffineQuant Studio");
        if (version < 1)
            fail("has an unknown views format " + std::to_string(version));
        if (field("block") != std::to_string(block))
            fail("belongs to block " + field("block") + ", not " + std::to_string(block));
        try {
            m_events = nlohmann::json::parse(field("events"));
        } catch (const nlohmann::json::exception&) {
            fail("has an unreadable list of reports");
        }
        if (!m_events.is_array())
            fail("has an unreadable list of reports");
    }

    /// Parses every event into `out` (observer calls bound to their data); throws BadInput on the first problem.
    void parse(std::vector<std::function<void(CalibrationObserver&)>>& out)
    {
        for (const auto& e : m_events) {
            if (!e.is_object() || !e.contains("event") || !e["event"].is_string())
                fail("has a report without a kind");
            const std::string kind = e["event"].get<std::string>();
            if (kind == "step") {
                StepLoss s{m_block, integer(e, "epoch"), integer(e, "step"), real(e, "loss"),
                           integer(e, "steps_per_epoch")};
                out.push_back([s](CalibrationObserver& o) { o.stepLoss(s); });
            } else if (kind == "epoch") {
                EpochSummary s{m_block, integer(e, "epoch"), integer(e, "epochs"), real(e, "mean_loss"),
                               real(e, "seconds"), integer64(e, "band_width"), {}};
                out.push_back([s](CalibrationObserver& o) { o.epochFinished(s); });
            } else if (kind == "diagnostics") {
                MatrixDiagnostics d;
                d.block = m_block;
                d.epoch = integer(e, "epoch");
                d.transform = site(e, "transform");
                d.size = integer64(e, "size");
                if (d.size < 0 || d.size > detail::kMaxArray)
                    fail("has a matrix of size " + std::to_string(d.size));
                d.rowMargins = floats(e, "row_margins", d.size);
                d.minMargin = static_cast<float>(real(e, "min_margin"));
                d.medianMargin = static_cast<float>(real(e, "median_margin"));
                d.nonDominantRows = integer64(e, "non_dominant_rows");
                d.conditionEstimate = real(e, "condition_estimate");
                d.bandWidth = integer64(e, "band_width");
                out.push_back([d](CalibrationObserver& o) { o.matrixDiagnostics(d); });
            } else if (kind == "snapshot") {
                MatrixSnapshot m;
                m.block = m_block;
                m.epoch = integer(e, "epoch");
                m.transform = site(e, "transform");
                m.rows = integer64(e, "rows");
                m.cols = integer64(e, "cols");
                m.stride = integer64(e, "stride");
                if (m.rows < 0 || m.cols < 0 || m.rows > detail::kMaxSnapshotSide ||
                    m.cols > detail::kMaxSnapshotSide || m.stride < 1 || m.stride > (int64_t(1) << 16))
                    fail("has a matrix of " + std::to_string(m.rows) + " x " + std::to_string(m.cols) + " (stride " +
                         std::to_string(m.stride) + ")");
                m.values = floats(e, "values", m.rows * m.cols);
                m.mask = floats(e, "mask", -1);
                if (!m.mask.empty() && static_cast<int64_t>(m.mask.size()) != m.rows * m.cols)
                    fail("has a mask that does not match its matrix");
                out.push_back([m](CalibrationObserver& o) { o.matrixSnapshot(m); });
            } else if (kind == "activation") {
                ActivationProfile a{m_block, site(e, "site"), floats(e, "before", -1), floats(e, "after", -1),
                                    texts(e, "layers")};
                if (!a.absMaxAfter.empty() && a.absMaxAfter.size() != a.absMaxBefore.size())
                    fail("has activation ranges before and after of different sizes");
                out.push_back([a](CalibrationObserver& o) { o.activationProfile(a); });
            } else if (kind == "histogram") {
                WeightHistogram h;
                h.block = m_block;
                h.layer = text(e, "layer");
                h.binEdges = floats(e, "bin_edges", -1);
                h.counts = counts(e, "counts");
                if (!h.counts.empty() && h.binEdges.size() != h.counts.size() + 1)
                    fail("has a histogram whose bin edges do not match its counts");
                h.clipLow = static_cast<float>(real(e, "clip_low"));
                h.clipHigh = static_cast<float>(real(e, "clip_high"));
                h.grid = floats(e, "grid", -1);
                h.clipLowMin = static_cast<float>(real(e, "clip_low_min", h.clipLow));
                h.clipLowMax = static_cast<float>(real(e, "clip_low_max", h.clipLow));
                h.clipHighMin = static_cast<float>(real(e, "clip_high_min", h.clipHigh));
                h.clipHighMax = static_cast<float>(real(e, "clip_high_max", h.clipHigh));
                h.clippedBelow = integer64(e, "clipped_below", 0);
                h.clippedAbove = integer64(e, "clipped_above", 0);
                out.push_back([h](CalibrationObserver& o) { o.weightHistogram(h); });
            } else if (kind == "recovery") {
                Recovery r{m_block, integer(e, "epoch"), text(e, "reason"), text(e, "action")};
                out.push_back([r](CalibrationObserver& o) { o.recovery(r); });
            } else if (kind == "block") {
                BlockSummary b;
                b.block = m_block;
                b.numBlocks = integer(e, "num_blocks");
                b.initialLoss = real(e, "initial_loss");
                b.finalLoss = real(e, "final_loss");
                b.seconds = real(e, "seconds");
                b.perChannelFallback = texts(e, "per_channel_fallback");
                out.push_back([b](CalibrationObserver& o) { o.blockFinished(b); });
            }
            // Kinds a newer version of the same format adds are skipped: the views they would feed don't exist here.
        }
    }

private:
    [[noreturn]] void fail(const std::string& what) const { badInput("views file " + m_where + " " + what); }

    const nlohmann::json& member(const nlohmann::json& e, const char* key) const
    {
        if (!e.contains(key))
            fail(std::string("has a report without '") + key + "'");
        return e[key];
    }
    int64_t integer64(const nlohmann::json& e, const char* key) const
    {
        const auto& v = member(e, key);
        if (!v.is_number_integer())
            fail(std::string("has a non-integer '") + key + "'");
        return v.get<int64_t>();
    }
    int64_t integer64(const nlohmann::json& e, const char* key, int64_t fallback) const
    {
        return e.contains(key) ? integer64(e, key) : fallback;
    }
    int integer(const nlohmann::json& e, const char* key) const
    {
        const int64_t v = integer64(e, key);
        if (v < -(int64_t(1) << 30) || v > (int64_t(1) << 30))
            fail(std::string("has an out-of-range '") + key + "'");
        return static_cast<int>(v);
    }
    double real(const nlohmann::json& e, const char* key) const
    {
        const auto& v = member(e, key);
        if (v.is_number())
            return v.get<double>();
        if (v.is_string()) {
            const std::string s = v.get<std::string>();
            if (s == "nan")
                return std::nan("");
            if (s == "inf")
                return INFINITY;
            if (s == "-inf")
                return -INFINITY;
        }
        fail(std::string("has a non-numeric '") + key + "'");
    }
    double real(const nlohmann::json& e, const char* key, double fallback) const
    {
        return e.contains(key) ? real(e, key) : fallback;
    }
    std::string text(const nlohmann::json& e, const char* key) const
    {
        const auto& v = member(e, key);
        if (!v.is_string())
            fail(std::string("has a non-text '") + key + "'");
        return v.get<std::string>();
    }
    /// A site by its name (aq/site.h).
    Site site(const nlohmann::json& e, const char* key) const
    {
        const std::string name = text(e, key);
        const Site s = parseSite(name);
        if (s == Site::Invalid)
            fail(std::string("has an unknown '") + key + "' (" + name + ")");
        return s;
    }
    /// An optional list of texts (empty when the key is absent).
    std::vector<std::string> texts(const nlohmann::json& e, const char* key) const
    {
        std::vector<std::string> out;
        if (!e.contains(key))
            return out;
        if (!e[key].is_array())
            fail(std::string("has an unreadable list '") + key + "'");
        for (const auto& n : e[key]) {
            if (!n.is_string())
                fail(std::string("has an unreadable list '") + key + "'");
            out.push_back(n.get<std::string>());
        }
        return out;
    }
    /// The tensor an event names (an empty name: an empty array); `expected` < 0 takes any length.
    torch::Tensor tensor(const nlohmann::json& e, const char* key, torch::ScalarType type, int64_t expected)
    {
        const std::string name = e.contains(key) && e[key].is_null() ? std::string() : text(e, key);
        if (name.empty()) {
            if (expected > 0)
                fail(std::string("has no data for '") + key + "'");
            return {};
        }
        if (!m_file.contains(name))
            fail("names a missing array '" + name + "'");
        if (!m_used.insert(name).second)
            fail("uses array '" + name + "' twice");
        const auto& entry = m_file.entries().at(name);
        if (detail::scalarTypeFromSafetensors(entry.dtype, m_file.path()) != type)
            fail("has array '" + name + "' of type " + entry.dtype);
        int64_t n = 1;
        for (int64_t d : entry.shape) {
            if (d < 0 || d > detail::kMaxArray)
                fail("has an oversized array '" + name + "'");
            n *= d;
            if (n > detail::kMaxArray)
                fail("has an oversized array '" + name + "'");
        }
        if (expected >= 0 && n != expected)
            fail("has array '" + name + "' of " + std::to_string(n) + " values where " + std::to_string(expected) +
                 " belong");
        return m_file.load(name).reshape({-1}).contiguous();
    }
    std::vector<float> floats(const nlohmann::json& e, const char* key, int64_t expected)
    {
        const torch::Tensor t = tensor(e, key, torch::kFloat32, expected);
        if (!t.defined())
            return {};
        return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
    }
    std::vector<int64_t> counts(const nlohmann::json& e, const char* key)
    {
        const torch::Tensor t = tensor(e, key, torch::kInt64, -1);
        if (!t.defined())
            return {};
        return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
    }

    SafetensorsFile m_file;
    int m_block;
    std::string m_where;
    nlohmann::json m_events;
    std::set<std::string> m_used;
};

/// The model's block count as the run folder records it (run.json of a finished run, else progress.json).
int recordedBlocks(const fs::path& runDir) { return std::clamp(recordedBlockCount(runDir.string()), 0, detail::kMaxBlocks); }

RunViewsSummary scan(const fs::path& runDir)
{
    std::error_code ec;
    if (!fs::is_directory(runDir, ec))
        badInput("run folder '" + runDir.string() + "' does not exist or is not a folder");
    RunViewsSummary s;
    s.numBlocks = recordedBlocks(runDir);
    std::set<int> found;
    const fs::path dir = runDir / "views";
    if (fs::is_directory(dir, ec)) {
        fs::directory_iterator it(dir, ec), end;
        for (; !ec && it != end; it.increment(ec)) {
            const std::string fn = it->path().filename().string();
            const std::string prefix = "block_", suffix = ".safetensors";
            if (fn.size() <= prefix.size() + suffix.size() || fn.rfind(prefix, 0) != 0 ||
                fn.compare(fn.size() - suffix.size(), suffix.size(), suffix) != 0)
                continue;
            const std::string digits = fn.substr(prefix.size(), fn.size() - prefix.size() - suffix.size());
            if (digits.empty() || digits.size() > 6 ||
                !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
                continue;
            const int block = std::stoi(digits);
            // A file beyond the blocks the run records (or any model has) is not one of its views.
            const int limit = s.numBlocks > 0 ? s.numBlocks : detail::kMaxBlocks;
            if (block >= limit) {
                s.problems.push_back("views file '" + it->path().string() + "' is for block " + std::to_string(block) +
                                     ", but the run has " + std::to_string(limit) + " blocks");
                continue;
            }
            found.insert(block);
            std::error_code sizeError;
            const uintmax_t bytes = it->file_size(sizeError);
            if (!sizeError)
                s.bytes += bytes;
        }
        if (ec)
            s.problems.push_back("cannot list '" + dir.string() + "': " + ec.message());
    }
    s.blocks.assign(found.begin(), found.end());
    if (!found.empty())
        s.numBlocks = std::max(s.numBlocks, *found.rbegin() + 1);
    for (int i = 0; i < s.numBlocks; ++i)
        if (!found.count(i))
            s.missingBlocks.push_back(i);
    return s;
}

}  // namespace

RunViewsSummary inspectRunViews(const std::string& runDir)
{
    RunViewsSummary s = scan(runDir);
    std::vector<int> readable;
    for (int b : s.blocks) {
        try {
            BlockReader reader(detail::runViewsFile(runDir, b), b);
            readable.push_back(b);
        } catch (const std::exception& e) {
            s.problems.push_back(e.what());
            s.missingBlocks.push_back(b);
        }
    }
    s.blocks = readable;
    std::sort(s.missingBlocks.begin(), s.missingBlocks.end());
    return s;
}

RunViewsSummary replayRunViews(const std::string& runDir, CalibrationObserver& observer, const std::atomic<bool>* cancel,
                               int blockLimit)
{
    RunViewsSummary s = scan(runDir);
    std::vector<int> replayed;
    for (int b : s.blocks) {
        if (blockLimit >= 0 && b >= blockLimit)
            continue;
        if (cancel && cancel->load())
            throw Error(ErrorCode::Cancelled, "cancelled");
        std::vector<std::function<void(CalibrationObserver&)>> calls;
        try {
            BlockReader reader(detail::runViewsFile(runDir, b), b);
            reader.parse(calls);
        } catch (const std::exception& e) {
            s.problems.push_back(e.what());
            s.missingBlocks.push_back(b);
            continue;
        }
        for (const auto& call : calls)
            call(observer);
        replayed.push_back(b);
    }
    s.blocks = replayed;
    std::sort(s.missingBlocks.begin(), s.missingBlocks.end());
    return s;
}

}  // namespace aq
