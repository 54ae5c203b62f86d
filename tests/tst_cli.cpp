// The `affinequant` program as a user runs it: exit statuses, messages and JSON output.
#include "testutil.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QElapsedTimer>
#include <QProcess>
#include <QThread>

#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>

#include <signal.h>
#include <sys/types.h>

namespace fs = std::filesystem;

namespace {
struct Run {
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

Run runCli(const QStringList& args, int timeoutMs = 120000, const QStringList& env = {})
{
    QProcess p;
    if (!env.isEmpty()) {
        QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
        for (const char* name : {"AQ_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"})
            e.remove(QString::fromLatin1(name));
        for (const QString& kv : env)
            e.insert(kv.section(QLatin1Char('='), 0, 0), kv.section(QLatin1Char('='), 1));
        p.setProcessEnvironment(e);
    }
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

const QString kDemoModel = QStringLiteral(AQ_SOURCE_DIR "/resources/demo-model");
const QString kDemoCalib = QStringLiteral(AQ_SOURCE_DIR "/resources/demo-text/heldout.txt");

/// A short quantization of the demo model into `out` (a few seconds with `epochs` 3 or more).
QStringList quickQuantize(const QString& model, const QString& out, int epochs, const QString& method = "affinequant",
                          int nsamples = 4, int seqlen = 64)
{
    return {"quantize", "--model", model, "--calib", kDemoCalib, "--out", out, "--preset", "w4a16g128", "--method",
            method, "--nsamples", QString::number(nsamples), "--seqlen", QString::number(seqlen), "--epochs",
            QString::number(epochs)};
}

/// Copies the demo model into `dir`.
void copyDemoModel(const fs::path& dir)
{
    fs::create_directories(dir);
    for (const auto& e : fs::directory_iterator(kDemoModel.toStdString()))
        if (e.is_regular_file())
            fs::copy_file(e.path(), dir / e.path().filename());
}

/// Overwrites row `row` of F16 tensor `name` in a safetensors file with the 16-bit pattern `bits` (0x7e00 NaN,
/// 0x7c00 +infinity).
bool poisonRow(const fs::path& file, const std::string& name, int64_t row, uint16_t bits)
{
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    uint64_t n = 0;
    f.read(reinterpret_cast<char*>(&n), 8);
    QByteArray header(static_cast<int>(n), '\0');
    f.read(header.data(), header.size());
    const QJsonObject e = QJsonDocument::fromJson(header).object()[QString::fromStdString(name)].toObject();
    if (e["dtype"].toString() != "F16")
        return false;
    const int64_t cols = e["shape"].toArray()[1].toInteger();
    f.seekp(static_cast<std::streamoff>(8 + n + e["data_offsets"].toArray()[0].toInteger() + row * cols * 2));
    for (int64_t c = 0; c < cols; ++c)
        f.write(reinterpret_cast<const char*>(&bits), 2);
    return bool(f);
}

/// Bytes the files under `dir` occupy in whole 4 KiB pages (what a tmpfs charges).
qint64 pagesOf(const fs::path& p)
{
    qint64 total = 0;
    if (fs::is_regular_file(p))
        return (static_cast<qint64>(fs::file_size(p)) + 4095) / 4096 * 4096;
    for (const auto& e : fs::recursive_directory_iterator(p))
        if (e.is_regular_file())
            total += (static_cast<qint64>(e.file_size()) + 4095) / 4096 * 4096;
    return total;
}

/// A tmpfs of a given size mounted on a folder for the test's lifetime (needs the right to mount: root here, often
/// not in CI, where the tests that need it skip).
class Tmpfs {
public:
    Tmpfs(const QString& dir, qint64 bytes) : m_dir(dir)
    {
        QDir().mkpath(dir);
        QProcess p;
        p.start("mount", {"-t", "tmpfs", "-o", QStringLiteral("size=%1k").arg((bytes + 1023) / 1024), "tmpfs", dir});
        m_mounted = p.waitForFinished(10000) && p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0;
        m_error = p.readAllStandardError().trimmed();
    }
    ~Tmpfs()
    {
        if (m_mounted)
            QProcess::execute("umount", {m_dir});
    }
    bool mounted() const { return m_mounted; }
    QString error() const { return m_error; }
    bool resize(qint64 bytes)
    {
        return QProcess::execute("mount", {"-o", QStringLiteral("remount,size=%1k").arg((bytes + 1023) / 1024), m_dir}) == 0;
    }

private:
    QString m_dir;
    bool m_mounted = false;
    QString m_error;
};

/// Waits until process `pid` handles signal `sig` (Linux: SigCgt in /proc/<pid>/status); false when that cannot be
/// seen within `timeoutMs`.
bool waitForSignalHandler(qint64 pid, int sig, int timeoutMs)
{
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < timeoutMs) {
        QFile f(QStringLiteral("/proc/%1/status").arg(pid));
        if (f.open(QIODevice::ReadOnly))
            for (const QByteArray& line : f.readAll().split('\n'))
                if (line.startsWith("SigCgt:")) {
                    bool ok = false;
                    const quint64 mask = line.mid(7).trimmed().toULongLong(&ok, 16);
                    if (ok && ((mask >> (sig - 1)) & 1u))
                        return true;
                }
        QThread::msleep(10);
    }
    return false;
}

/// Writes into `path` until the filesystem is full.
void fillDisk(const QString& path)
{
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Unbuffered))
        return;
    const QByteArray chunk(64 * 1024, 'x');
    for (qint64 size = chunk.size(); size >= 1; size /= 2)
        while (f.write(chunk.constData(), size) == size) {
        }
    f.close();
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
        // Too large is not "not a whole number"; a condition limit below 1 is refused before any work.
        QTest::newRow("seqlen too large")
            << QStringList{"eval", "--model", "m", "--text", "t", "--seqlen", "9223372036854775807"} << 2
            << "--seqlen is too large: 9223372036854775807 is more than the limit of 2147483647";
        QTest::newRow("seqlen beyond 64 bits")
            << QStringList{"eval", "--model", "m", "--text", "t", "--seqlen", "99999999999999999999"} << 2
            << "--seqlen is too large";
        QTest::newRow("wbits wrapping to 4") << (q + QStringList{"--wbits", "4294967300"}) << 2 << "--wbits is too large";
        QTest::newRow("condition limit 0") << (q + QStringList{"--preset", "w4a4", "--condition-limit", "0"}) << 2
                                           << "--condition-limit must be at least 1";
        QTest::newRow("threads 0") << QStringList{"devices", "--threads", "0"} << 2
                                   << "--threads needs a number of threads from 1 to 4096, got '0'";
        QTest::newRow("threads missing") << QStringList{"devices", "--threads"} << 2 << "--threads needs a number";
        QTest::newRow("threads not a number") << QStringList{"devices", "--threads", "two"} << 2 << "got 'two'";
    }

    // The CPU thread policy: the cap comes from --threads, else AQ_THREADS, else the smallest thread variable of the
    // environment; never more threads than cores; LibTorch gets them, OpenBLAS one (its products run on the calling
    // thread), whatever the environment says.
    void threadPolicy_data()
    {
        QTest::addColumn<QStringList>("env");
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("limit");
        QTest::addColumn<QString>("source");
        QTest::newRow("automatic") << QStringList{} << QStringList{} << 0 << "";
        QTest::newRow("OMP_NUM_THREADS=1") << QStringList{"OMP_NUM_THREADS=1"} << QStringList{} << 1 << "OMP_NUM_THREADS";
        QTest::newRow("OMP 64, OPENBLAS 3") << QStringList{"OMP_NUM_THREADS=64", "OPENBLAS_NUM_THREADS=3"} << QStringList{}
                                            << 3 << "OPENBLAS_NUM_THREADS";
        QTest::newRow("OMP list 4,2") << QStringList{"OMP_NUM_THREADS=4,2"} << QStringList{} << 4 << "OMP_NUM_THREADS";
        QTest::newRow("AQ_THREADS wins") << QStringList{"AQ_THREADS=5", "OMP_NUM_THREADS=1"} << QStringList{} << 5
                                         << "AQ_THREADS";
        QTest::newRow("--threads wins") << QStringList{"AQ_THREADS=5", "OMP_NUM_THREADS=1"}
                                        << QStringList{"--threads", "1"} << 1 << "--threads";
        QTest::newRow("garbage ignored") << QStringList{"OMP_NUM_THREADS=lots"} << QStringList{} << 0 << "";
    }
    void threadPolicy()
    {
        QFETCH(QStringList, env);
        QFETCH(QStringList, args);
        QFETCH(int, limit);
        QFETCH(QString, source);
        const Run r = runCli(QStringList{"devices", "--json"} + args, 120000, env.isEmpty() ? QStringList{"X_AQ=1"} : env);
        QCOMPARE(r.exitCode, 0);
        const QJsonDocument doc = QJsonDocument::fromJson(r.out);
        QVERIFY2(doc.isArray() && !doc.array().isEmpty(), r.out.constData());
        const QJsonObject t = doc.array().at(0).toObject().value(QStringLiteral("threads")).toObject();
        const int cores = t.value(QStringLiteral("cores")).toInt();
        QVERIFY(cores >= 1);
        QCOMPARE(t.value(QStringLiteral("limit")).toInt(), limit);
        QCOMPARE(t.value(QStringLiteral("limit_source")).toString(), source);
        const int used = limit > 0 ? std::min(cores, limit) : cores;
        QCOMPARE(t.value(QStringLiteral("used")).toInt(), used);
        QCOMPARE(t.value(QStringLiteral("libtorch")).toInt(), used);
        if (t.value(QStringLiteral("blas_library")).toString().startsWith(QStringLiteral("OpenBLAS")))
            QCOMPARE(t.value(QStringLiteral("blas")).toInt(), 1);
        // The text form names the same policy.
        const Run text = runCli(QStringList{"devices"} + args, 120000, env.isEmpty() ? QStringList{"X_AQ=1"} : env);
        QVERIFY2(text.out.contains(QStringLiteral("threads: %1 of %2 core").arg(used).arg(cores).toUtf8()),
                 text.out.constData());
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

    /// --config takes an earlier run's configuration back: the same model, bit for bit; options beside it change it;
    /// a wrong type names the key.
    void configOfAnEarlierRun()
    {
        QTemporaryDir tmp;
        const QStringList common = {"quantize", "--model", QStringLiteral(AQ_SOURCE_DIR "/resources/demo-model"),
                                    "--calib", QStringLiteral(AQ_SOURCE_DIR "/resources/demo-text/train/northangerabbey.txt")};
        const Run a = runCli(common + QStringList{"--out", tmp.path() + "/a", "--preset", "w4a4", "--nsamples", "4",
                                                  "--seqlen", "64", "--epochs", "2", "--sf", "0.05", "--seed", "7"});
        QCOMPARE(a.exitCode, 0);
        const Run b = runCli(common + QStringList{"--out", tmp.path() + "/b", "--config", tmp.path() + "/a/run.json"});
        QVERIFY2(b.exitCode == 0, b.err.constData());
        QFile fa(tmp.path() + "/a/model/model.safetensors"), fb(tmp.path() + "/b/model/model.safetensors");
        QVERIFY(fa.open(QIODevice::ReadOnly) && fb.open(QIODevice::ReadOnly));
        QVERIFY(fa.readAll() == fb.readAll());
        const Run c = runCli(common + QStringList{"--out", tmp.path() + "/c", "--config", tmp.path() + "/a/run.json",
                                                  "--epochs", "1"});
        QCOMPARE(c.exitCode, 0);
        QFile rc(tmp.path() + "/c/run.json");
        QVERIFY(rc.open(QIODevice::ReadOnly));
        const QJsonObject cfg = QJsonDocument::fromJson(rc.readAll()).object()["configuration"].toObject();
        QCOMPARE(cfg["epochs"].toInt(), 1);
        QCOMPARE(cfg["seed"].toInteger(), 7);
        QCOMPARE(cfg["sf"].toDouble(), 0.05);
        QFile bad(tmp.path() + "/bad.json");
        QVERIFY(bad.open(QIODevice::WriteOnly));
        bad.write(R"({"configuration": {"wbits": "four"}})");
        bad.close();
        const Run d = runCli(common + QStringList{"--out", tmp.path() + "/d", "--config", bad.fileName()});
        QCOMPARE(d.exitCode, 2);
        QVERIFY2(d.err.contains("\"wbits\" has the wrong type"), d.err.constData());
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

    // A NaN or an infinity in a checkpoint is bad input naming the tensor, for `quantize` (which used to finish
    // "complete" with a NaN embedding row, or die on a singular matrix with a NaN in q_proj) and for `eval`.
    void nonFiniteWeightsAreBadInput_data()
    {
        QTest::addColumn<QString>("tensor");
        QTest::addColumn<int>("row");
        QTest::addColumn<int>("bits");
        QTest::newRow("NaN row in the embeddings") << "model.embed_tokens.weight" << 5 << 0x7e00;
        QTest::newRow("NaN row in q_proj") << "model.layers.1.self_attn.q_proj.weight" << 3 << 0x7e00;
        QTest::newRow("infinity in down_proj") << "model.layers.3.mlp.down_proj.weight" << 0 << 0x7c00;
    }
    void nonFiniteWeightsAreBadInput()
    {
        QFETCH(QString, tensor);
        QFETCH(int, row);
        QFETCH(int, bits);
        QTemporaryDir tmp;
        const fs::path model = fs::path(tmp.path().toStdString()) / "model";
        copyDemoModel(model);
        QVERIFY(poisonRow(model / "model.safetensors", tensor.toStdString(), row, static_cast<uint16_t>(bits)));
        const QString m = QString::fromStdString(model.string());
        const QString out = tmp.path() + "/run";
        const Run r = runCli(quickQuantize(m, out, 1));
        QVERIFY2(r.exitCode == 2, r.err.constData());
        QVERIFY2(r.err.contains("bad input") && r.err.contains(tensor.toUtf8()) && r.err.contains("non-finite"),
                 r.err.constData());
        QVERIFY(!QFile::exists(out + "/run.json"));
        QVERIFY(!QFile::exists(out + "/model"));
        const Run ev = runCli({"eval", "--model", m, "--text", kDemoCalib, "--seqlen", "64", "--max-windows", "1"});
        QCOMPARE(ev.exitCode, 2);
        QVERIFY2(ev.err.contains(tensor.toUtf8()), ev.err.constData());
    }

    // Two runs on one --out: the second is refused while the first holds the folder, with or without --force, and
    // names the first one's process; the first finishes untouched.
    void concurrentRunsOnOneOutAreRefused()
    {
        QTemporaryDir tmp;
        const QString out = tmp.path() + "/run";
        QProcess first;
        first.start(QStringLiteral(AQ_CLI_PATH), quickQuantize(kDemoModel, out, 4));
        QVERIFY(first.waitForStarted());
        QElapsedTimer t;
        t.start();
        while (!QFile::exists(out + "/blocks") && first.state() == QProcess::Running && t.elapsed() < 60000)
            QThread::msleep(10);
        QVERIFY2(first.state() == QProcess::Running, "the first run ended before the second could start");
        const QByteArray pid = QByteArray::number(first.processId());
        const Run forced = runCli(quickQuantize(kDemoModel, out, 1) << "--force");
        const Run plain = runCli(quickQuantize(kDemoModel, out, 1));
        const bool overlapped = first.state() == QProcess::Running;
        QVERIFY(first.waitForFinished(120000));
        QCOMPARE(first.exitCode(), 0);
        QVERIFY2(overlapped, "the first run ended before the second was refused; the test needs a longer first run");
        for (const Run* r : {&forced, &plain}) {
            QVERIFY2(r->exitCode == 2, r->err.constData());
            QVERIFY2(r->err.contains("in use") && r->err.contains(pid), r->err.constData());
        }
        // The first run's results are its own: 4 epochs per block in its report, a complete model.
        QFile f(out + "/run.json");
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QJsonObject run = QJsonDocument::fromJson(f.readAll()).object();
        QCOMPARE(run["status"].toString(), QStringLiteral("complete"));
        QCOMPARE(run["configuration"].toObject()["epochs"].toInt(), 4);
        QVERIFY(QFile::exists(out + "/model/model.safetensors"));
        // Released with the run: the folder can be replaced now, and no lock file is left behind.
        QVERIFY(!QFile::exists(out + "/.affinequant.lock"));
        const Run after = runCli(quickQuantize(kDemoModel, out, 1, "rtn") << "--force");
        QVERIFY2(after.exitCode == 0, after.err.constData());
    }

    // One Ctrl+C or SIGTERM while a long text is being tokenized ends the program within a moment, with 130.
    void interruptDuringTokenization_data()
    {
        QTest::addColumn<QString>("command");
        QTest::addColumn<int>("signal");
        QTest::newRow("quantize, SIGINT") << "quantize" << SIGINT;
        QTest::newRow("quantize, SIGTERM") << "quantize" << SIGTERM;
        QTest::newRow("eval, SIGINT") << "eval" << SIGINT;
    }
    void interruptDuringTokenization()
    {
        QFETCH(QString, command);
        QFETCH(int, signal);
        QTemporaryDir tmp;
        // About 8 MB of text: many seconds of tokenizing, started well within the first second.
        const QString text = tmp.path() + "/long.txt";
        {
            QFile in(kDemoCalib), outFile(text);
            QVERIFY(in.open(QIODevice::ReadOnly) && outFile.open(QIODevice::WriteOnly));
            const QByteArray chunk = in.readAll();
            for (int i = 0; i < 70; ++i)
                outFile.write(chunk);
        }
        const QString out = tmp.path() + "/run";
        const QStringList args =
            command == "eval" ? QStringList{"eval", "--model", kDemoModel, "--text", text, "--seqlen", "64", "--max-windows", "1"}
                              : QStringList{"quantize", "--model", kDemoModel, "--calib", text, "--out", out, "--preset",
                                            "w4a16g128", "--nsamples", "2", "--seqlen", "32", "--epochs", "1"};
        QProcess p;
        p.start(QStringLiteral(AQ_CLI_PATH), args);
        QVERIFY(p.waitForStarted());
        // Once the program handles the signal (where that can be seen), a second for it to reach the tokenizer.
        waitForSignalHandler(p.processId(), signal, 10000);
        QThread::msleep(1000);
        QVERIFY2(p.state() == QProcess::Running, p.readAllStandardError().constData());
        QElapsedTimer t;
        t.start();
        ::kill(static_cast<pid_t>(p.processId()), signal);
        const bool ended = p.waitForFinished(4000);
        if (!ended) {
            p.kill();
            p.waitForFinished();
        }
        QVERIFY2(ended, "still running 4 s after one interrupt");
        QCOMPARE(p.exitStatus(), QProcess::NormalExit);
        QCOMPARE(p.exitCode(), 130);
        QVERIFY(t.elapsed() < 3000);
        QVERIFY(p.readAllStandardError().contains("cancelled"));
        QVERIFY(!QFile::exists(out + "/run.json"));
    }

    // A full disk during quantize is bad input saying where and how much: refused up front when the folder cannot
    // hold the run (this level used to end in "internal error: cannot copy file" after calibrating everything), and
    // stopped at the failing write when the disk fills up during the run, which --resume then completes.
    void fullDiskDuringQuantize()
    {
        QTemporaryDir tmp;
        const QString ref = tmp.path() + "/ref";
        const Run reference = runCli(quickQuantize(kDemoModel, ref, 0, "rtn"));
        QVERIFY2(reference.exitCode == 0, reference.err.constData());
        // Room for the blocks, the progress file, the merged weights and config.json, and one page more: the
        // tokenizer files do not fit.
        const fs::path r = ref.toStdString();
        const qint64 level = pagesOf(r / "blocks") + pagesOf(r / "progress.json") + pagesOf(r / "model/model.safetensors") +
                             pagesOf(r / "model/config.json") + 4096;
        const QString disk = tmp.path() + "/disk";
        Tmpfs tmpfs(disk, level);
        if (!tmpfs.mounted())
            QSKIP(qPrintable("mounting a small tmpfs is not permitted here (" + tmpfs.error() +
                             "); run as root to test a full disk"));
        const QString out = disk + "/run";
        const Run full = runCli(quickQuantize(kDemoModel, out, 0, "rtn"));
        QVERIFY2(full.exitCode == 2, full.err.constData());
        QVERIFY2(full.err.contains("disk space") && full.err.contains(disk.toUtf8()) && full.err.contains(" MB"),
                 full.err.constData());
        QVERIFY(!QFile::exists(out + "/run.json"));

        // Room for the whole run at the start; the disk fills up once the first block is written.
        QVERIFY(tmpfs.resize(64ll << 20));
        QProcess p;
        const QStringList args = quickQuantize(kDemoModel, out, 2, "affinequant", 2, 32);  // about half a second a block
        p.start(QStringLiteral(AQ_CLI_PATH), args);
        QVERIFY(p.waitForStarted());
        QElapsedTimer t;
        t.start();
        while (!QFile::exists(out + "/blocks/block_0.safetensors") && p.state() == QProcess::Running && t.elapsed() < 60000)
            QThread::msleep(5);
        fillDisk(disk + "/filler");
        QVERIFY(p.waitForFinished(120000));
        const QByteArray err = p.readAllStandardError();
        QVERIFY2(p.exitCode() == 2, err.constData());
        QVERIFY2(err.contains("out of disk space") && err.contains(disk.toUtf8()) && err.contains("free") &&
                     err.contains("--resume"),
                 err.constData());
        QVERIFY(!QFile::exists(out + "/run.json"));
        QVERIFY(QFile::remove(disk + "/filler"));
        const Run resumed = runCli(QStringList(args) << "--resume");
        QVERIFY2(resumed.exitCode == 0, resumed.err.constData());
        QVERIFY(QFile::exists(out + "/run.json"));
        QVERIFY(QFile::exists(out + "/model/tokenizer.model"));
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
