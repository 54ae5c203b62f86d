// The settings table (aq/quant_config.h) and the run folder's records (aq/run_file.h): every setting survives
// run.json both ways, ranges are enforced with the setting's id, the method's choices are the same with and without
// a preset, and run.json's format version is checked.
#include "aq/error.h"
#include "aq/quant_config.h"
#include "aq/run_file.h"
#include "testutil.h"

#include <nlohmann/json.hpp>

#include <QProcess>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

namespace fs = std::filesystem;

namespace {

/// The "configuration" keys run.json held before the settings table existed (written by hand then): every one must
/// still be written, under the same name, so older tools and runs keep reading them.
const char* const kKeysBeforeTheTable[] = {
    "preset", "method", "wbits", "abits", "group_size", "partial_groups", "per_channel_fallback", "symmetric",
    "zero_in_range", "reference_delta_clamp", "lwc", "let", "ln_matrix", "qk_matrix", "train_shifts",
    "signed_max_init", "aug_loss", "sf", "alpha", "let_lr", "lwc_lr", "wd", "epochs", "nsamples", "seqlen",
    "batch_size", "seed", "keep_dominant", "inverse_float64", "mixed_precision", "buffers_on_host", "max_recoveries",
    "condition_limit"};

/// A value inside the setting's range that differs from `current`.
double otherValue(const aq::Setting& s, double current)
{
    if (s.isSwitch())
        return current != 0 ? 0 : 1;
    const double low = s.minExclusive ? s.min + (s.isReal() ? 1e-3 : 1) : s.min;
    const double high = std::min(s.max, 1e6);  // unbounded settings: some finite value
    const double v = s.isReal() ? (low + high) / 3 : std::floor((low + high) / 2);
    return v != current ? v : low;
}

std::string fieldOfFailure(const std::function<void()>& f)
{
    try {
        f();
    } catch (const aq::Error& e) {
        return e.field().empty() ? std::string("(no field)") : e.field();
    }
    return "(no error)";
}

void writeFile(const fs::path& p, const std::string& text)
{
    std::ofstream out(p);
    out << text;
}

}  // namespace

class TstSettings : public QObject {
    Q_OBJECT
private slots:
    void idsAndOptionsAreUnique()
    {
        std::set<std::string> ids, options;
        for (const aq::Setting& s : aq::quantSettings()) {
            QVERIFY2(ids.insert(s.id).second, s.id);
            QVERIFY2(options.insert(s.option).second, s.option);
            QVERIFY2(std::string(s.help).size() > 10, s.id);
            QCOMPARE(aq::findSetting(s.id), &s);
            QCOMPARE(aq::findSetting(s.option), &s);
            if (s.isSwitch())
                QCOMPARE(aq::findSetting(std::string("no-") + s.option), &s);
            else
                QVERIFY2(s.min <= s.max && (s.fieldMax == 0 || (s.fieldMax > s.min && s.fieldMax <= s.max)), s.id);
        }
        QVERIFY(aq::findSetting("no-such-setting") == nullptr);
    }

    void runJsonKeepsTheKeysItAlwaysHad()
    {
        const nlohmann::json j = nlohmann::json::parse(aq::quantConfigJson(aq::QuantConfig{}));
        for (const char* key : kKeysBeforeTheTable)
            QVERIFY2(j.contains(key), key);
        // Added since: the rollback factor, the weight grid (a name; "uniform" is the grid every earlier run used),
        // the clipping search (off, as every earlier run started) and GPTQ rounding (off: nearest, as every earlier
        // run rounded).
        QVERIFY(j.contains("rollback_factor"));
        QCOMPARE(j.value("weight_grid", std::string()), std::string("uniform"));
        QCOMPARE(j.value("lwc_init_search", true), false);
        QCOMPARE(j.value("gptq_rounding", true), false);
        QCOMPARE(j.size(), std::size(kKeysBeforeTheTable) + 4);
        QCOMPARE(aq::quantConfigFromJson(R"({"wbits": 4})").gptqRounding, false);
        // A run.json without the key (an earlier run) reads as the uniform grid; an unknown grid is refused by name.
        QCOMPARE(aq::quantConfigFromJson(R"({"wbits": 4})").weightGrid, aq::WeightGrid::Uniform);
        QCOMPARE(aq::quantConfigFromJson(R"({"weight_grid": "q3_k_m"})").weightGrid, aq::WeightGrid::Q3_K_M);
        QCOMPARE(fieldOfFailure([] { aq::quantConfigFromJson(R"({"weight_grid": "q7_k"})"); }),
                 std::string("weight_grid"));
    }

    void weightGridsAreCheckedAgainstTheModel()
    {
        // --wbits must be the grid's, and every input size whole super-blocks of 256.
        aq::ModelConfig m;
        m.hiddenSize = 256;
        m.intermediateSize = 768;
        m.numHeads = 4;
        m.numKvHeads = 2;
        m.headDim = 64;
        m.numLayers = 4;
        m.maxPositionEmbeddings = 512;
        aq::QuantConfig c = aq::customConfig(aq::Method::Rtn, aq::Architecture::Llama, 4, 16, 0);
        c.nsamples = 4;
        c.seqlen = 64;
        c.weightGrid = aq::WeightGrid::Q4_K_M;
        aq::validateConfig(c, m);
        c.wbits = 3;
        QCOMPARE(fieldOfFailure([&] { aq::validateConfig(c, m); }), std::string("weight_grid"));
        c.wbits = 4;
        m.intermediateSize = 688;
        QCOMPARE(fieldOfFailure([&] { aq::validateConfig(c, m); }), std::string("weight_grid"));
        m.intermediateSize = 768;
        // GPTQ rounding needs the calibration's inputs (not computed by RTN) and quantized weights.
        c.gptqRounding = true;
        QCOMPARE(fieldOfFailure([&] { aq::validateConfig(c, m); }), std::string("gptq_rounding"));
        c.method = aq::Method::AffineQuant;
        aq::validateConfig(c, m);
        c.weightGrid = aq::WeightGrid::Uniform;
        c.wbits = 16;
        QCOMPARE(fieldOfFailure([&] { aq::validateConfig(c, m); }), std::string("gptq_rounding"));
        c.gptqRounding = false;
        // The mixes' choices for a 32-block model with 8 query heads per key/value head, written out by hand from
        // llama.cpp's rules (tst_gguf_llamacpp compares them with llama.cpp's quantizer itself).
        m.numLayers = 32;
        m.numHeads = 8;
        m.numKvHeads = 1;
        using G = aq::WeightGrid;
        using R = aq::LinearRole;
        const std::set<int64_t> moreBits = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
        for (int64_t b = 0; b < 32; ++b) {
            const bool more = moreBits.count(b) > 0;
            QCOMPARE(aq::tensorGrid(G::Q4_K_M, R::AttentionValue, b, 32, m), more ? G::Q6_K : G::Q4_K);
            QCOMPARE(aq::tensorGrid(G::Q4_K_M, R::FfnDown, b, 32, m), more ? G::Q6_K : G::Q4_K);
            QCOMPARE(aq::tensorGrid(G::Q4_K_M, R::AttentionOutput, b, 32, m), G::Q4_K);
            QCOMPARE(aq::tensorGrid(G::Q3_K_M, R::AttentionValue, b, 32, m), b < 2 ? G::Q5_K : G::Q4_K);
            QCOMPARE(aq::tensorGrid(G::Q3_K_M, R::FfnDown, b, 32, m), b < 2 ? G::Q5_K : G::Q4_K);
            QCOMPARE(aq::tensorGrid(G::Q3_K_M, R::AttentionOutput, b, 32, m), G::Q4_K);
            QCOMPARE(aq::tensorGrid(G::Q3_K_M, R::Other, b, 32, m), G::Q3_K);
            QCOMPARE(aq::tensorGrid(G::Q2_K_M, R::AttentionValue, b, 32, m), G::Q4_K);
            QCOMPARE(aq::tensorGrid(G::Q2_K_M, R::FfnDown, b, 32, m), G::Q3_K);
            QCOMPARE(aq::tensorGrid(G::Q2_K_M, R::Other, b, 32, m), G::Q2_K);
            QCOMPARE(aq::tensorGrid(G::Q5_K, R::FfnDown, b, 32, m), G::Q5_K);
        }
        m.numKvHeads = 4;  // two query heads per key/value head
        QCOMPARE(aq::tensorGrid(G::Q2_K_M, R::AttentionValue, 5, 32, m), G::Q3_K);
    }

    void everySettingSurvivesRunJson()
    {
        aq::QuantConfig c;
        c.preset = "w4a4";
        c.method = aq::Method::OmniQuant;
        for (const aq::Setting& s : aq::quantSettings())
            s.set(c, otherValue(s, s.value(c)));
        const aq::QuantConfig back = aq::quantConfigFromJson(aq::quantConfigJson(c));
        QCOMPARE(back.preset, c.preset);
        QCOMPARE(back.method, c.method);
        const aq::QuantConfig defaults;
        for (const aq::Setting& s : aq::quantSettings()) {
            QVERIFY2(s.value(c) != s.value(defaults), s.id);  // the round trip below is not of a default
            QVERIFY2(s.value(back) == s.value(c), s.id);
        }
        // A whole run.json is accepted too (its "configuration" is taken); a key of the wrong type is named.
        QCOMPARE(aq::quantConfigFromJson(R"({"configuration": {"epochs": 7}})").epochs, 7);
        QCOMPARE(fieldOfFailure([] { aq::quantConfigFromJson(R"({"group_size": "128"})"); }), std::string("group_size"));
    }

    void rangesAreEnforcedWithTheSettingsId()
    {
        for (const aq::Setting& s : aq::quantSettings()) {
            if (s.isSwitch())
                continue;
            aq::checkSetting(s, s.max);  // inclusive upper bound
            if (!s.minExclusive)
                aq::checkSetting(s, s.min);
            const double below = s.min - (s.isReal() ? std::max(1e-6, std::fabs(s.min) * 1e-6) : 1);
            QCOMPARE(fieldOfFailure([&] { aq::checkSetting(s, s.minExclusive ? s.min : below); }), std::string(s.id));
            if (std::isfinite(s.max))
                QCOMPARE(fieldOfFailure([&] { aq::checkSetting(s, s.max * 2 + 1); }), std::string(s.id));
            QCOMPARE(fieldOfFailure([&] { aq::checkSetting(s, std::numeric_limits<double>::quiet_NaN()); }),
                     std::string(s.id));
        }
        // The message names the option as the command line spells it.
        try {
            aq::checkSetting(*aq::findSetting("wbits"), 17);
            QFAIL("17 weight bits accepted");
        } catch (const aq::Error& e) {
            QCOMPARE(std::string(e.what()), std::string("--wbits 17 is outside 2..16"));
        }
    }

    void validationNamesTheSetting()
    {
        aq::ModelConfig m;
        m.arch = aq::Architecture::Llama;
        m.hiddenSize = 64;
        m.intermediateSize = 172;
        m.numHeads = 8;
        m.headDim = 8;
        m.maxPositionEmbeddings = 512;
        aq::QuantConfig c = aq::presetConfig("w4a4");
        c.seqlen = 256;
        aq::validateConfig(c, m);
        aq::QuantConfig bad = c;
        bad.batchSize = 3;  // does not divide 128 samples
        QCOMPARE(fieldOfFailure([&] { aq::validateConfig(bad, m); }), std::string("batch_size"));
        bad = c;
        bad.rollbackFactor = 0;
        QCOMPARE(fieldOfFailure([&] { aq::validateConfig(bad, m); }), std::string("rollback_factor"));
        bad = c;
        bad.seqlen = 4096;  // longer than the model's maximum
        QCOMPARE(fieldOfFailure([&] { aq::validateConfig(bad, m); }), std::string("seqlen"));
        bad = c;
        bad.mixedPrecision = true;
        QCOMPARE(fieldOfFailure([&] { aq::validateConfig(bad, m); }), std::string("mixed_precision"));
    }

    void methodsChooseTheSameWithOrWithoutAPreset()
    {
        for (aq::Architecture arch : {aq::Architecture::Llama, aq::Architecture::Opt})
            for (aq::Method method : {aq::Method::Rtn, aq::Method::OmniQuant, aq::Method::AffineQuant})
                for (const char* preset : {"w4a16g128", "w4a4"}) {
                    const aq::QuantConfig p = aq::presetConfig(preset, method, arch);
                    const aq::QuantConfig c = aq::customConfig(method, arch, p.wbits, p.abits, p.groupSize);
                    const QByteArray where = QByteArray(preset) + " " + aq::methodName(method);
                    QCOMPARE(c.method, method);
                    QVERIFY2(c.lwc == p.lwc, where);
                    QVERIFY2(c.let == p.let, where);
                    QVERIFY2(c.trainShifts == p.trainShifts, where);
                    QVERIFY2(c.signedMaxInit == p.signedMaxInit, where);
                    if (method != aq::Method::AffineQuant) {
                        QVERIFY2(!c.lnMatrix && !c.qkMatrix, where);
                    }
                    if (method == aq::Method::Rtn)
                        QCOMPARE(c.epochs, 0);
                }
    }

    void theCommandLineOffersEverySetting()
    {
        QProcess p;
        p.start(QStringLiteral(AQ_CLI_PATH), {QStringLiteral("--help")});
        QVERIFY(p.waitForFinished(30000));
        QCOMPARE(p.exitCode(), 0);
        const QString help = QString::fromUtf8(p.readAllStandardOutput());
        for (const aq::Setting& s : aq::quantSettings()) {
            if (s.switches == aq::SwitchOptions::None)
                continue;
            const bool off = s.switches == aq::SwitchOptions::OffOnly;
            QVERIFY2(help.contains(QString::fromStdString(s.optionText(!off))), s.id);
            QVERIFY2(help.contains(QStringLiteral("[%1]").arg(QLatin1String(s.id))), s.id);
        }
        // An out-of-range value is refused before anything is read, naming the option.
        p.start(QStringLiteral(AQ_CLI_PATH),
                {QStringLiteral("quantize"), QStringLiteral("--model"),
                 QString::fromStdString(aqtest::sourcePath("resources/demo-model")), QStringLiteral("--calib"),
                 QStringLiteral("unused.txt"), QStringLiteral("--out"), QStringLiteral("unused"),
                 QStringLiteral("--preset"), QStringLiteral("w4a4"), QStringLiteral("--rollback-factor"),
                 QStringLiteral("0")});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 2);
        const QString err = QString::fromUtf8(p.readAllStandardError());
        QVERIFY2(err.contains(QStringLiteral("--rollback-factor must be greater than 0")), qPrintable(err));
    }

    void runJsonFormatVersionIsChecked()
    {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        const std::string body = R"("status": "complete", "model": "/m", "calibration_text": "/t", "device": "cpu",
            "num_blocks": 2, "configuration": {"wbits": 3, "abits": 16, "group_size": 64, "rollback_factor": 0.25},
            "blocks": [{"block": 0, "initial_loss": 0.5, "final_loss": 0.25, "seconds": 1.5,
                        "recoveries": [{"reason": "x"}],
                        "epochs": [{"epoch": 0, "mean_loss": 0.3, "matrices": {"qkv": {"min_margin": 0.125}}}]}],
            "recoveries": 1, "seconds": 12.0, "versions": {"affinequant": "0.1.0"})";
        // Written before the version was recorded: read as version 1.
        writeFile(dir / "run.json", "{" + body + "}");
        const aq::RunDescription run = aq::readRunDescription(dir.string());
        QCOMPARE(run.formatVersion, 1);
        QCOMPARE(run.config.wbits, 3);
        QCOMPARE(run.config.groupSize, int64_t(64));
        QCOMPARE(run.config.rollbackFactor, 0.25);
        QCOMPARE(run.numBlocks, 2);
        QCOMPARE(run.blocks.size(), size_t(1));
        QCOMPARE(*run.blocks[0].finalLoss, 0.25);
        QCOMPARE(run.blocks[0].recoveries, 1);
        QCOMPARE(run.blocks[0].epochs[0].minMargins.at(aq::Site::Qkv), 0.125);
        QCOMPARE(run.recoveries, 1);
        QCOMPARE(run.versions.at("affinequant"), std::string("0.1.0"));
        QVERIFY(!aq::readRunProgress(dir.string()));  // finished: nothing to resume

        writeFile(dir / "run.json", R"({"format_version": 1, )" + body + "}");
        QCOMPARE(aq::readRunDescription(dir.string()).formatVersion, 1);

        // A newer layout is refused, saying so.
        writeFile(dir / "run.json", R"({"format_version": 2, )" + body + "}");
        try {
            aq::readRunDescription(dir.string());
            QFAIL("a run.json of a newer format was read");
        } catch (const aq::Error& e) {
            QCOMPARE(e.code(), aq::ErrorCode::BadInput);
            QVERIFY2(std::string(e.what()).find("format version 2") != std::string::npos, e.what());
            QVERIFY2(std::string(e.what()).find("newer") != std::string::npos, e.what());
        }
        // Unfinished: progress.json only.
        fs::remove(dir / "run.json");
        writeFile(dir / "progress.json", R"({"completed_blocks": 1, "num_blocks": 4, "model": "/m",
            "calibration_text": "/t", "configuration": {"epochs": 3}})");
        const std::optional<aq::RunProgress> progress = aq::readRunProgress(dir.string());
        QVERIFY(progress && progress->resumable());
        QCOMPARE(progress->config->epochs, 3);
        QCOMPARE(aq::recordedBlockCount(dir.string()), 4);
        try {
            aq::readRunDescription(dir.string());
            QFAIL("an unfinished run was read as finished");
        } catch (const aq::Error& e) {
            QVERIFY2(std::string(e.what()).find("--resume") != std::string::npos, e.what());
        }
    }
};

QTEST_GUILESS_MAIN(TstSettings)
#include "tst_settings.moc"
