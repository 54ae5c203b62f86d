// The run folder's records: run.json and progress.json, their keys, reading (aq/run_file.h) and writing (run_file.h).
#include "run_file.h"

#include "jsonutil.h"
#include "publish.h"
#include "quant_config_json.h"

#include "aq/device.h"
#include "aq/error.h"
#include "aq/version.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace aq {
namespace detail {

using nlohmann::json;

namespace {

/// Records are small; anything larger than this is not one.
constexpr uint64_t kMaxRecordBytes = uint64_t(64) << 20;

/// The blocks as a run record lists them: losses, and per epoch the mean loss and each matrix's smallest margin.
std::vector<RunBlockRecord> blockRecords(const json& blocks, const std::string& where)
{
    std::vector<RunBlockRecord> out;
    if (!blocks.is_array())
        return out;
    for (const json& b : blocks) {
        if (!b.is_object())
            continue;
        RunBlockRecord r;
        r.block = jsonField(b, "block", 0, where, "blocks");
        if (b.contains("initial_loss"))
            r.initialLoss = jsonField(b, "initial_loss", 0.0, where, "blocks");
        if (b.contains("final_loss"))
            r.finalLoss = jsonField(b, "final_loss", 0.0, where, "blocks");
        r.seconds = jsonField(b, "seconds", 0.0, where, "blocks");
        if (b.contains("recoveries") && b["recoveries"].is_array())
            r.recoveries = static_cast<int>(b["recoveries"].size());
        if (b.contains("epochs") && b["epochs"].is_array())
            for (const json& e : b["epochs"]) {
                if (!e.is_object())
                    continue;
                RunEpochRecord er;
                er.epoch = jsonField(e, "epoch", 0, where, "blocks.epochs");
                if (e.contains("mean_loss"))
                    er.meanLoss = jsonField(e, "mean_loss", 0.0, where, "blocks.epochs");
                er.seconds = jsonField(e, "seconds", 0.0, where, "blocks.epochs");
                if (e.contains("matrices") && e["matrices"].is_object())
                    for (const auto& [transform, m] : e["matrices"].items())
                        if (const Site site = parseSite(transform); site != Site::Invalid && m.is_object())
                            er.minMargins[site] = jsonField(m, "min_margin", 0.0, where, "blocks.epochs.matrices");
                r.epochs.push_back(std::move(er));
            }
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace

fs::path runJsonPath(const fs::path& runDir) { return runDir / "run.json"; }
fs::path progressJsonPath(const fs::path& runDir) { return runDir / "progress.json"; }

void writeJsonAtomically(const fs::path& path, const json& j)
{
    const fs::path tmp = path.string() + ".partial";
    {
        std::ofstream out(tmp);
        out << j.dump(1) << "\n";
        out.close();  // the buffered bytes reach the disk here: a full disk must fail before the rename
        if (!out) {
            std::error_code ec;
            fs::remove(tmp, ec);
            badInput("cannot write '" + tmp.string() + "' (disk full or read-only?)");
        }
    }
    publishFile(tmp, path, "cannot move '" + tmp.string() + "' to '" + path.string() + "'");
}

// ---- progress.json ----

nlohmann::json blockRecordJson(const BlockRecord& b)
{
    json j = {{"block", b.block}, {"seconds", b.seconds}};
    if (!b.trained)
        return j;
    j["initial_loss"] = b.initialLoss;
    j["final_loss"] = b.finalLoss;
    j["peak_device_memory_bytes"] = b.peakDeviceBytes;
    j["epochs"] = json::array();
    for (const BlockRecord::Epoch& e : b.epochs) {
        json ej = {{"epoch", e.epoch}, {"mean_loss", e.meanLoss}, {"seconds", e.seconds},
                   {"band", e.band},   {"head_band", e.headBand}, {"sf", e.sf}};
        if (e.inverseRefinement)
            ej["inverse_refinement"] = {{"max_residual", e.maxResidual}, {"fallbacks_to_lu", e.fallbacksToLu}};
        for (const BlockRecord::Matrix& d : e.matrices)
            ej["matrices"][siteName(d.transform)] = {{"min_margin", d.minMargin},
                                                     {"median_margin", d.medianMargin},
                                                     {"non_dominant_rows", d.nonDominantRows},
                                                     {"rows", d.rows},
                                                     {"condition_estimate", d.conditionEstimate}};
        j["epochs"].push_back(ej);
    }
    j["recoveries"] = json::array();
    for (const BlockRecord::Recovery& r : b.recoveries)
        j["recoveries"].push_back({{"epoch", r.epoch}, {"reason", r.reason}, {"action", r.action}});
    j["per_channel_fallback"] = b.perChannelFallback;
    return j;
}

std::string resumeFingerprint(const std::string& modelConfigText, uint64_t weightBytes, const std::string& calibrationText,
                              const std::string& configurationJson)
{
    // FNV-1a, 64 bits, over the four joined by '|'.
    const std::string s = modelConfigText + "|" + std::to_string(weightBytes) + "|" + calibrationText + "|" +
                          configurationJson;
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return std::to_string(h);
}

RunProgressRecord::RunProgressRecord(const std::string& fingerprint, int numBlocks, const std::string& modelDir,
                                     const std::string& calibrationText, const json& configuration)
{
    // The request itself too, so a front end can offer to resume a folder it did not start.
    m_json = {{"fingerprint", fingerprint},
              {"completed_blocks", 0},
              {"num_blocks", numBlocks},
              {"model", modelDir},
              {"calibration_text", calibrationText},
              {"configuration", configuration},
              {"blocks", json::array()},
              {"recoveries", 0}};
}

RunProgressRecord RunProgressRecord::resume(const fs::path& runDir, const std::string& fingerprint)
{
    const fs::path path = progressJsonPath(runDir);
    if (!fs::exists(path))
        badInput("nothing to resume in '" + runDir.string() + "' (no progress.json); start a new run without --resume");
    RunProgressRecord r;
    r.m_json = readJsonFile(path, "run progress");
    requireObject(r.m_json, path.string());
    if (jsonField(r.m_json, "fingerprint", std::string(), path.string()) != fingerprint)
        badInput("cannot resume '" + runDir.string() + "': the model, calibration text or configuration differ from "
                 "the interrupted run; use the same options, or start a new run");
    if (!r.m_json.contains("blocks") || !r.m_json["blocks"].is_array())
        r.m_json["blocks"] = json::array();
    r.m_json["recoveries"] = jsonField(r.m_json, "recoveries", 0, path.string());
    return r;
}

int RunProgressRecord::completedBlocks() const { return m_json.value("completed_blocks", 0); }
int RunProgressRecord::recoveries() const { return m_json.value("recoveries", 0); }

void RunProgressRecord::addBlock(const json& report, int recoveries)
{
    m_json["completed_blocks"] = completedBlocks() + 1;
    m_json["blocks"].push_back(report);
    m_json["recoveries"] = this->recoveries() + recoveries;
}

void RunProgressRecord::write(const fs::path& runDir) const { writeJsonAtomically(progressJsonPath(runDir), m_json); }

json RunProgressRecord::completed(const Completion& c) const
{
    return {{"format_version", kRunFormatVersion},
            {"status", "complete"},
            {"model", c.modelDir},
            {"calibration_text", c.calibrationText},
            {"configuration", c.configuration},
            {"device", c.device},
            {"num_blocks", c.numBlocks},
            {"blocks", m_json.contains("blocks") ? m_json.at("blocks") : json::array()},
            {"views", {{"folder", "views"}, {"format_version", c.viewsFormatVersion}}},
            {"quantization_layout", c.quantizationLayout},
            {"peak_host_memory_bytes", c.peakHostBytes},
            {"peak_device_memory_bytes", c.peakDeviceBytes},
            {"recoveries", recoveries()},
            {"versions", {{"affinequant", kVersion}, {"libtorch", torchVersion()}}}};
}

// ---- run.json ----

void recordDataParallel(json& run, int ranks, const std::string& backend)
{
    run["data_parallel"] = {{"ranks", ranks}, {"backend", backend}};
}

void recordEvaluation(json& run, const RunEvaluationRecord& e)
{
    run["eval"] = {{"text", e.text},
                   {"seqlen", e.seqlen},
                   {"windows", e.windows},
                   {"windows_evaluated", e.windowsEvaluated},
                   {"fp_perplexity", e.fpPerplexity},
                   {"rtn_perplexity", e.rtnPerplexity},
                   {"quant_perplexity", e.quantPerplexity}};
}

void writeCompletedRun(const fs::path& runDir, json run, double seconds)
{
    run["seconds"] = seconds;
    writeJsonAtomically(runJsonPath(runDir), run);
}

}  // namespace detail

using detail::jsonField;
using nlohmann::json;

RunDescription readRunDescription(const std::string& runDir)
{
    const fs::path dir(runDir);
    if (!fs::is_directory(dir))
        badInput("run directory '" + runDir + "' does not exist or is not a folder");
    const fs::path path = detail::runJsonPath(dir);
    if (!fs::exists(path)) {
        if (fs::exists(detail::progressJsonPath(dir)))
            badInput("run '" + runDir + "' is unfinished: it has progress.json but no run.json (the calibration was "
                     "interrupted or is still running); finish it with 'affinequant quantize ... --resume' first");
        badInput("'" + runDir + "' is not a run directory (no run.json); give the --out folder of 'affinequant quantize'");
    }
    const std::string where = path.string();
    const json run = detail::parseJson(detail::readRegularFile(path, "run description", detail::kMaxRecordBytes), where);
    detail::requireObject(run, where);
    RunDescription r;
    r.runDir = runDir;
    r.formatVersion = jsonField(run, "format_version", 1, where);
    if (r.formatVersion > kRunFormatVersion || r.formatVersion < 1)
        badInput("'" + where + "' has format version " + std::to_string(r.formatVersion) + "; this program (" +
                 std::string(kVersion) + ") reads versions 1 to " + std::to_string(kRunFormatVersion) +
                 ": open it with a newer AffineQuant Studio");
    const std::string status = jsonField(run, "status", std::string(), where);
    if (status != "complete")
        badInput("run '" + runDir + "' is unfinished (status '" + status + "' in run.json); finish or re-run it first");
    if (!run.contains("configuration"))
        badInput("'" + where + "' has no configuration object");
    detail::requireObject(run["configuration"], where, "configuration");
    r.configurationJson = run["configuration"].dump();
    r.config = detail::quantConfigFromJsonObject(run["configuration"], where);
    if (r.config.wbits < 2 || r.config.wbits > 16 || r.config.abits < 2 || r.config.abits > 16)
        badInput("'" + where + "': 'configuration.wbits' and 'configuration.abits' must be between 2 and 16");
    if (r.config.groupSize < 0)
        badInput("'" + where + "': 'configuration.group_size' must not be negative");
    r.config.device = jsonField(run, "device", std::string("cpu"), where);
    r.modelDir = jsonField(run, "model", std::string(), where);
    r.calibrationText = jsonField(run, "calibration_text", std::string(), where);
    r.numBlocks = jsonField(run, "num_blocks", 0, where);
    if (run.contains("blocks"))
        r.blocks = detail::blockRecords(run["blocks"], where);
    if (run.contains("eval") && run["eval"].is_object()) {
        const json& e = run["eval"];
        RunEvaluationRecord ev;
        ev.text = jsonField(e, "text", std::string(), where, "eval");
        ev.seqlen = jsonField(e, "seqlen", int64_t(0), where, "eval");
        ev.windows = jsonField(e, "windows", int64_t(0), where, "eval");
        ev.windowsEvaluated = jsonField(e, "windows_evaluated", int64_t(0), where, "eval");
        ev.fpPerplexity = jsonField(e, "fp_perplexity", 0.0, where, "eval");
        ev.rtnPerplexity = jsonField(e, "rtn_perplexity", 0.0, where, "eval");
        ev.quantPerplexity = jsonField(e, "quant_perplexity", 0.0, where, "eval");
        r.evaluation = ev;
    }
    r.seconds = jsonField(run, "seconds", 0.0, where);
    if (run.contains("recoveries") && run["recoveries"].is_number_integer())
        r.recoveries = run["recoveries"].get<int>();
    if (run.contains("data_parallel") && run["data_parallel"].is_object())
        r.ranks = jsonField(run["data_parallel"], "ranks", 1, where, "data_parallel");
    if (run.contains("versions") && run["versions"].is_object())
        for (const auto& [program, version] : run["versions"].items())
            if (version.is_string())
                r.versions[program] = version.get<std::string>();
    return r;
}

std::optional<RunProgress> readRunProgress(const std::string& runDir)
{
    const fs::path dir(runDir);
    std::error_code ec;
    if (fs::exists(detail::runJsonPath(dir), ec))
        return std::nullopt;
    json j;
    try {
        j = detail::parseJson(detail::readRegularFile(detail::progressJsonPath(dir), "run progress",
                                                      detail::kMaxRecordBytes),
                              detail::progressJsonPath(dir).string());
    } catch (const Error&) {
        return std::nullopt;
    }
    if (!j.is_object())
        return std::nullopt;
    RunProgress r;
    r.runDir = runDir;
    auto integer = [&](const char* key) { return j.contains(key) && j[key].is_number_integer() ? j[key].get<int>() : 0; };
    auto text = [&](const char* key) { return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : ""; };
    r.completedBlocks = integer("completed_blocks");
    r.numBlocks = integer("num_blocks");
    r.modelDir = text("model");
    r.calibrationText = text("calibration_text");
    if (j.contains("configuration") && j["configuration"].is_object()) {
        try {
            r.config = detail::quantConfigFromJsonObject(j["configuration"], detail::progressJsonPath(dir).string());
        } catch (const Error&) {
            // a configuration this version cannot read is not resumed
        }
    }
    return r;
}

int recordedBlockCount(const std::string& runDir)
{
    const fs::path dir(runDir);
    std::error_code ec;
    int n = 0;
    for (const fs::path& p : {detail::runJsonPath(dir), detail::progressJsonPath(dir)}) {
        if (!fs::is_regular_file(p, ec))
            continue;
        try {
            const json j = detail::parseJson(detail::readRegularFile(p, "run record", detail::kMaxRecordBytes),
                                             p.string());
            if (!j.is_object())
                continue;
            if (j.contains("num_blocks") && j["num_blocks"].is_number_integer())
                n = std::max(n, j["num_blocks"].get<int>());
            if (j.contains("blocks") && j["blocks"].is_array())
                n = std::max(n, static_cast<int>(j["blocks"].size()));
            if (j.contains("completed_blocks") && j["completed_blocks"].is_number_integer())
                n = std::max(n, j["completed_blocks"].get<int>());
        } catch (const Error&) {
            // A damaged record: the views files still say what they hold.
        }
    }
    return n;
}

}  // namespace aq
