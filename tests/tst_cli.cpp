// The `affinequant` program as a user runs it: exit statuses, messages and JSON output.
#include "testutil.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace {
struct Run {
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

Run runCli(const QStringList& args, int timeoutMs = 120000)
{
    QProcess p;
    p.start(QStringLiteral(AQ_CLI_PATH), args);
    Run r;
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        return r;
    }
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}
}  // namespace

class TestCli : public QObject {
    Q_OBJECT

private slots:
    void usageErrors_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("fragment");
        QTest::newRow("no command") << QStringList{} << 2 << "usage";
        QTest::newRow("unknown command") << QStringList{"frobnicate"} << 2 << "unknown command";
        QTest::newRow("unknown option") << QStringList{"inspect", "--modle", "x"} << 2 << "unknown option --modle";
        QTest::newRow("missing value") << QStringList{"inspect", "--model"} << 2 << "needs a value";
        QTest::newRow("missing model") << QStringList{"eval", "--text", "x"} << 2 << "--model";
        QTest::newRow("not a folder") << QStringList{"inspect", "--model", "/nonexistent/model"} << 2 << "does not exist";
        QTest::newRow("bad number") << QStringList{"eval", "--model", "m", "--text", "t", "--seqlen", "12x"} << 2
                                    << "whole number";
        QTest::newRow("help") << QStringList{"--help"} << 0 << "";
        const QString demo = QStringLiteral(AQ_SOURCE_DIR "/resources/demo-model");
        const QString calib = QStringLiteral(AQ_SOURCE_DIR "/resources/demo-text/train/northangerabbey.txt");
        const QStringList q{"quantize", "--model", demo, "--calib", calib, "--out", "/tmp/aq-cli-never-written"};
        QTest::newRow("unknown preset") << (q + QStringList{"--preset", "w5a5"}) << 2 << "unknown preset 'w5a5'";
        QTest::newRow("bits outside range") << (q + QStringList{"--wbits", "17"}) << 2 << "outside 2..16";
        QTest::newRow("nsamples 0") << (q + QStringList{"--preset", "w4a4", "--nsamples", "0"}) << 2 << "--nsamples";
        QTest::newRow("unknown method") << (q + QStringList{"--preset", "w4a4", "--method", "gptq"}) << 2
                                        << "unknown method 'gptq'";
        QTest::newRow("bad number") << (q + QStringList{"--preset", "w4a4", "--sf", "x1"}) << 2 << "needs a number";
        QTest::newRow("cuda without cuda") << (q + QStringList{"--preset", "w4a4", "--device", "cuda:3"}) << 2 << "cuda:3";
    }
    void usageErrors()
    {
        QFETCH(QStringList, args);
        QFETCH(int, status);
        QFETCH(QString, fragment);
        const Run r = runCli(args);
        QCOMPARE(r.exitCode, status);
        QVERIFY2((r.err + r.out).contains(fragment.toUtf8()), (r.err + r.out).constData());
    }

    void inspectJson()
    {
        AQ_REQUIRE_FIXTURE(dir, "models/stories260K-hf");
        const Run r = runCli({"inspect", "--model", QString::fromStdString(dir), "--json"});
        QCOMPARE(r.exitCode, 0);
        const QJsonObject j = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(j["config"].toObject()["gqa"].toBool(), true);
        QCOMPARE(j["config"].toObject()["tied_embeddings"].toBool(), true);
        QCOMPARE(j["parameters"].toInteger(), qint64(260032));
        QVERIFY(j["tokenizer"].toString().contains("sentencepiece"));
    }

    void evalJson()
    {
        AQ_REQUIRE_FIXTURE(dir, "models/stories260K-hf");
        AQ_REQUIRE_FIXTURE(text, "text/wikitext2_test_hf_joined.txt");
        const Run r = runCli({"eval", "--model", QString::fromStdString(dir), "--text", QString::fromStdString(text),
                              "--seqlen", "512", "--max-windows", "8", "--json"});
        QCOMPARE(r.exitCode, 0);
        const QJsonObject j = QJsonDocument::fromJson(r.out).object();
        QVERIFY(std::abs(j["perplexity"].toDouble() - 130.3665) < 0.01);
        QCOMPARE(j["windows"].toInt(), 8);
        QCOMPARE(j["seqlen"].toInt(), 512);
        QVERIFY(j["tokens_per_second"].toDouble() > 0);
    }

    void quantizeRunsAndWritesRun()
    {
        QTemporaryDir tmp;
        const QString out = tmp.path() + "/run";
        const Run r = runCli({"quantize", "--model", QStringLiteral(AQ_SOURCE_DIR "/resources/demo-model"), "--calib",
                              QStringLiteral(AQ_SOURCE_DIR "/resources/demo-text/train/northangerabbey.txt"), "--out", out,
                              "--preset", "w4a16g128", "--nsamples", "2", "--seqlen", "32", "--epochs", "1", "--json"});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(QFile::exists(out + "/run.json"));
        QVERIFY(QFile::exists(out + "/model/model.safetensors"));
        // A second run into the same folder is refused without --force, and the first run is untouched.
        const Run again = runCli({"quantize", "--model", QStringLiteral(AQ_SOURCE_DIR "/resources/demo-model"), "--calib",
                                  QStringLiteral(AQ_SOURCE_DIR "/resources/demo-text/train/northangerabbey.txt"), "--out",
                                  out, "--preset", "w4a16g128"});
        QCOMPARE(again.exitCode, 2);
        QVERIFY(again.err.contains("not empty"));
        QVERIFY(QFile::exists(out + "/model/model.safetensors"));
        // The run's model is evaluated by `eval` like any model folder.
        const Run ev = runCli({"eval", "--model", out + "/model", "--text",
                               QStringLiteral(AQ_SOURCE_DIR "/resources/demo-text/heldout.txt"), "--seqlen", "128",
                               "--max-windows", "2"});
        QCOMPARE(ev.exitCode, 0);
    }

    void presetsAreDeployableByDefault()
    {
        // The pre-flight verdicts of one format for a preset and extra options.
        auto verdict = [](const QStringList& extra, const QString& format) {
            const Run r = runCli(QStringList{"preflight", "--model", QStringLiteral(AQ_SOURCE_DIR "/resources/demo-model"),
                                             "--preset", "w4a16g128", "--json"} +
                                 extra);
            const QJsonObject j = QJsonDocument::fromJson(r.out).object();
            for (const auto& f : j.value("formats").toArray())
                if (f.toObject().value("format").toString() == format)
                    return f.toObject().value("verdict").toString();
            return QStringLiteral("missing (exit %1: %2)").arg(r.exitCode).arg(QString::fromUtf8(r.err));
        };
        QCOMPARE(verdict({}, "gguf"), QStringLiteral("exact"));
        QCOMPARE(verdict({}, "awq"), QStringLiteral("exact"));
        QCOMPARE(verdict({}, "hf"), QStringLiteral("exact"));
        // Zero points left where they fall: the packed formats then depend on the data; GGUF's Q4_1 does not.
        QCOMPARE(verdict({"--no-zero-in-range"}, "awq"), QStringLiteral("exact if the export's checks pass"));
        QCOMPARE(verdict({"--no-zero-in-range"}, "gguf"), QStringLiteral("exact"));
        // The paper's recipe: dense post-norm matrices run nowhere else.
        QCOMPARE(verdict({"--ln-matrix", "--no-zero-in-range"}, "gguf"), QStringLiteral("no"));
        QCOMPARE(verdict({"--ln-matrix", "--no-zero-in-range"}, "hf"), QStringLiteral("only with an extension"));
    }

    void evalBadInputExitsTwo_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::newRow("truncated weights") << "truncated";
        QTest::newRow("seqlen above maximum") << "seqlen";
        QTest::newRow("text too short") << "short";
        QTest::newRow("non-UTF-8 text") << "latin1";
    }
    void evalBadInputExitsTwo()
    {
        QFETCH(QString, kind);
        AQ_REQUIRE_FIXTURE(src, "models/stories260K-hf");
        QTemporaryDir tmp;
        const fs::path d = fs::path(tmp.path().toStdString());
        const fs::path m = d / "m";
        fs::create_directories(m);
        for (const auto& e : fs::directory_iterator(src))
            fs::copy_file(e.path(), m / e.path().filename());
        std::ofstream(d / "text.txt") << "Once upon a time there was a little dog who loved to run in the park.";
        QStringList args{"eval", "--model", QString::fromStdString(m.string()), "--text",
                         QString::fromStdString((d / "text.txt").string()), "--seqlen", "8"};
        if (kind == "truncated") {
            fs::resize_file(m / "model.safetensors", fs::file_size(m / "model.safetensors") / 2);
        } else if (kind == "seqlen") {
            args[6] = "4096";
        } else if (kind == "short") {
            args[6] = "500";
        } else {
            std::ofstream(d / "text.txt") << "na\xefve text";
        }
        const Run r = runCli(args);
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains("bad input"), r.err.constData());
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
