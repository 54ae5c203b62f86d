// The calibration worker on its own thread, driving the real engine on the bundled demo model: the signals arrive
// on the GUI thread in order, a cancel from the GUI thread ends the run as cancelled (not failed) and leaves no
// complete model, and bad input ends it as failed with the engine's code. With the shared fixtures present, the same
// on stories260K (five blocks, grouped-query attention).
//
// Every calibration runs on the device named by AQ_TEST_DEVICE (cpu, cuda or cuda:N; cpu when unset), so the same
// tests prove the worker on a GPU: AQ_TEST_DEVICE=cuda build/bin/tst_worker
#include "testutil.h"

#include "calibrationworker.h"

#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QScopeGuard>
#include <QSet>
#include <QTemporaryDir>
#include <QThread>

#include <algorithm>
#include <cmath>
#include <filesystem>

using namespace aq::gui;

namespace {

/// The device of every calibration in this test: AQ_TEST_DEVICE, or cpu.
std::string testDevice()
{
    const QByteArray d = qgetenv("AQ_TEST_DEVICE").trimmed();
    return d.isEmpty() ? std::string("cpu") : d.toStdString();
}

aq::CalibrationRequest request(const std::string& modelDir, const std::string& calibText, const QString& runDir,
                               int epochs, int64_t nsamples)
{
    aq::CalibrationRequest r;
    r.modelDir = modelDir;
    r.calibTextPath = calibText;
    r.runDir = runDir.toStdString();
    r.config = aq::presetConfig("w4a16", aq::Method::AffineQuant);
    r.config.lnMatrix = true;  // matrices, so that snapshots and margins are reported
    r.config.epochs = epochs;
    r.config.nsamples = nsamples;
    r.config.seqlen = 64;
    r.config.device = testDevice();
    return r;
}

aq::CalibrationRequest demoRequest(const QString& runDir, int epochs, int64_t nsamples)
{
    return request(aqtest::sourcePath("resources/demo-model"),
                   aqtest::sourcePath("resources/demo-text/train/northangerabbey.txt"), runDir, epochs, nsamples);
}

/// The device a finished run computed on, as its run.json records it ("cpu", "cuda:0").
QString runDevice(const QString& runDir)
{
    QFile f(QDir(runDir).filePath(QStringLiteral("run.json")));
    if (!f.open(QIODevice::ReadOnly))
        return QString();
    return QJsonDocument::fromJson(f.readAll()).object().value(QStringLiteral("device")).toString();
}

}  // namespace

class TestWorker : public QObject {
    Q_OBJECT

private:
    QThread m_thread;
    CalibrationWorker* m_worker = nullptr;
    QTemporaryDir m_tmp;

private slots:
    void initTestCase()
    {
        QVERIFY(m_tmp.isValid());
        qInfo("calibrating on %s (AQ_TEST_DEVICE)", testDevice().c_str());
        m_worker = new CalibrationWorker;
        m_worker->moveToThread(&m_thread);
        connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
        m_thread.start();
    }

    void cleanupTestCase()
    {
        m_worker->cancel();
        m_thread.quit();
        QVERIFY(m_thread.wait(60000));
    }

    void fullRunReportsEverything()
    {
        const QString runDir = m_tmp.filePath(QStringLiteral("full"));
        aq::CalibrationRequest request = demoRequest(runDir, 2, 4);
        request.evalTextPath = aqtest::sourcePath("resources/demo-text/heldout.txt");
        request.evalWindows = 2;

        QSignalSpy started(m_worker, &CalibrationWorker::started);
        QSignalSpy stages(m_worker, &CalibrationWorker::stageChanged);
        QSignalSpy losses(m_worker, &CalibrationWorker::lossesReady);
        QSignalSpy epochs(m_worker, &CalibrationWorker::epochEnded);
        QSignalSpy diagnostics(m_worker, &CalibrationWorker::matrixDiagnosticsReady);
        QSignalSpy snapshots(m_worker, &CalibrationWorker::matrixSnapshotReady);
        QSignalSpy profiles(m_worker, &CalibrationWorker::activationProfileReady);
        QSignalSpy histograms(m_worker, &CalibrationWorker::weightHistogramReady);
        QSignalSpy blocks(m_worker, &CalibrationWorker::blockEnded);
        QSignalSpy finished(m_worker, &CalibrationWorker::finished);
        QSignalSpy failed(m_worker, &CalibrationWorker::failed);
        QSignalSpy cancelled(m_worker, &CalibrationWorker::cancelled);

        // Signals must be delivered on the GUI thread, queued from the worker's.
        // The connection ends with this function: the worker outlives it, and a later run must not write to the
        // flag once this frame is gone.
        bool allOnGuiThread = true;
        const QMetaObject::Connection onGuiThread = connect(m_worker, &CalibrationWorker::lossesReady, this, [&] {
            allOnGuiThread = allOnGuiThread && QThread::currentThread() == thread();
        });
        const auto disconnectAtEnd = qScopeGuard([&] { disconnect(onGuiThread); });

        m_worker->start(request);
        QVERIFY(m_worker->isBusy());
        QTRY_COMPARE_WITH_TIMEOUT(finished.count() + failed.count() + cancelled.count(), 1, 300000);
        if (!failed.isEmpty())
            QFAIL(qPrintable(failed.first().at(1).toString()));
        QCOMPARE(finished.count(), 1);
        QVERIFY(!m_worker->isBusy());
        QCOMPARE(started.count(), 1);
        QVERIFY(allOnGuiThread);

        const int numBlocks = 4;  // the demo model
        QCOMPARE(blocks.count(), numBlocks);
        QCOMPARE(epochs.count(), numBlocks * 2);
        QVERIFY(stages.count() >= numBlocks);
        QVERIFY(losses.count() >= 1);
        int points = 0;
        for (const QList<QVariant>& args : losses)
            points += int(args.at(0).value<QVector<aq::StepLoss>>().size());
        QVERIFY(points >= numBlocks * 2);  // at least the last step of every epoch
        QVERIFY(diagnostics.count() >= numBlocks * 2);
        QVERIFY(snapshots.count() >= numBlocks * 2);
        const auto frame = snapshots.first().at(0).value<aq::widgets::MatrixFrame>();
        QVERIFY(frame.rows > 0 && frame.cols > 0);
        QCOMPARE(frame.values.size(), qsizetype(frame.rows) * frame.cols);
        QVERIFY(profiles.count() >= numBlocks);
        QVERIFY(histograms.count() >= numBlocks);
        const auto d = diagnostics.first().at(0).value<aq::MatrixDiagnostics>();
        QCOMPARE(qsizetype(d.rowMargins.size()), qsizetype(d.size));

        const auto outcome = finished.first().at(0).value<aq::CalibrationResult>();
        QCOMPARE(QString::fromStdString(outcome.runDir), runDir);
        QVERIFY(outcome.fpPerplexity > 1);
        QVERIFY(outcome.rtnPerplexity > 1);
        QVERIFY(outcome.quantPerplexity > 1);
        QVERIFY(std::filesystem::exists(std::filesystem::path(runDir.toStdString()) / "run.json"));
        QVERIFY2(runDevice(runDir).startsWith(QString::fromStdString(testDevice())), qPrintable(runDevice(runDir)));
    }

    void cancelMidRun()
    {
        const QString runDir = m_tmp.filePath(QStringLiteral("cancelled"));
        QSignalSpy losses(m_worker, &CalibrationWorker::lossesReady);
        QSignalSpy finished(m_worker, &CalibrationWorker::finished);
        QSignalSpy failed(m_worker, &CalibrationWorker::failed);
        QSignalSpy cancelled(m_worker, &CalibrationWorker::cancelled);
        m_worker->start(demoRequest(runDir, 200, 16));  // far longer than the test waits
        QTRY_VERIFY_WITH_TIMEOUT(losses.count() >= 1, 120000);
        m_worker->cancel();  // from the GUI thread, while the worker thread computes
        QTRY_COMPARE_WITH_TIMEOUT(cancelled.count(), 1, 60000);
        QCOMPARE(failed.count(), 0);
        QCOMPARE(finished.count(), 0);
        QVERIFY(!m_worker->isBusy());
        const std::filesystem::path dir(runDir.toStdString());
        QVERIFY(!std::filesystem::exists(dir / "run.json"));
        QVERIFY(!std::filesystem::exists(dir / "model" / "config.json"));
    }

    void badInputFails()
    {
        QSignalSpy failed(m_worker, &CalibrationWorker::failed);
        QSignalSpy cancelled(m_worker, &CalibrationWorker::cancelled);
        aq::CalibrationRequest request = demoRequest(m_tmp.filePath(QStringLiteral("bad")), 1, 4);
        request.calibTextPath = m_tmp.filePath(QStringLiteral("no-such-text.txt")).toStdString();
        m_worker->start(request);
        QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, 60000);
        QCOMPARE(cancelled.count(), 0);
        QCOMPARE(failed.first().at(0).value<aq::ErrorCode>(), aq::ErrorCode::BadInput);
        QVERIFY(!failed.first().at(1).toString().isEmpty());
    }

    // The application and the command-line program lock a run folder alike: while the program calibrates into it,
    // the worker's run there fails as bad input naming the program's process, and the other way round.
    void runFolderInUseByTheOtherProgramIsRefused()
    {
        const QString runDir = m_tmp.filePath(QStringLiteral("shared"));
        QSignalSpy failed(m_worker, &CalibrationWorker::failed);
        QSignalSpy finished(m_worker, &CalibrationWorker::finished);
        QSignalSpy cancelled(m_worker, &CalibrationWorker::cancelled);
        const QStringList cli{"quantize", "--model", QString::fromStdString(aqtest::sourcePath("resources/demo-model")),
                              "--calib", QString::fromStdString(aqtest::sourcePath("resources/demo-text/heldout.txt")),
                              "--out", runDir, "--preset", "w4a16", "--nsamples", "4", "--seqlen", "64", "--epochs"};
        QProcess program;
        program.start(QStringLiteral(AQ_CLI_PATH), cli + QStringList{"200", "--force"});
        QVERIFY(program.waitForStarted());
        QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(runDir + "/blocks") || program.state() != QProcess::Running, 60000);
        QVERIFY(program.state() == QProcess::Running);
        aq::CalibrationRequest request = demoRequest(runDir, 1, 4);
        request.force = true;
        m_worker->start(request);
        QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, 60000);
        QCOMPARE(failed.first().at(0).value<aq::ErrorCode>(), aq::ErrorCode::BadInput);
        const QString message = failed.first().at(1).toString();
        QVERIFY2(message.contains("in use") && message.contains(QString::number(program.processId())), qPrintable(message));
        QVERIFY(program.state() == QProcess::Running);
        program.kill();
        program.waitForFinished();

        // Now the worker holds the folder (the killed program left it resumable, which --force replaces).
        QSignalSpy losses(m_worker, &CalibrationWorker::lossesReady);
        request.config.epochs = 200;
        m_worker->start(request);
        QTRY_VERIFY_WITH_TIMEOUT(losses.count() >= 1, 120000);
        QProcess second;
        second.start(QStringLiteral(AQ_CLI_PATH), cli + QStringList{"1", "--force"});
        QVERIFY(second.waitForFinished(60000));
        const QByteArray err = second.readAllStandardError();
        QVERIFY2(second.exitCode() == 2 && err.contains("in use") &&
                     err.contains(QByteArray::number(QCoreApplication::applicationPid())),
                 err.constData());
        m_worker->cancel();
        QTRY_COMPARE_WITH_TIMEOUT(cancelled.count(), 1, 60000);
        QCOMPARE(finished.count(), 0);
    }

    void cancelBeforeStartStillCancels()
    {
        // A cancel between queuing and starting must not be lost; start() clears only earlier requests.
        QSignalSpy cancelled(m_worker, &CalibrationWorker::cancelled);
        QSignalSpy finished(m_worker, &CalibrationWorker::finished);
        m_worker->start(demoRequest(m_tmp.filePath(QStringLiteral("early")), 50, 16));
        m_worker->cancel();
        QTRY_COMPARE_WITH_TIMEOUT(cancelled.count(), 1, 60000);
        QCOMPARE(finished.count(), 0);
    }

    // stories260K through the worker and its observer: five blocks of width 64, 2 epochs of 4 samples of 64 tokens.
    // A few seconds on a CPU, so it runs on every device whenever the fixture is present.
    void storiesFullRun()
    {
        AQ_REQUIRE_FIXTURE(model, "models/stories260K-hf");
        AQ_REQUIRE_FIXTURE(text, "text/wikitext2_valid_tokens.txt");
        const QString runDir = m_tmp.filePath(QStringLiteral("stories"));
        QSignalSpy losses(m_worker, &CalibrationWorker::lossesReady);
        QSignalSpy epochs(m_worker, &CalibrationWorker::epochEnded);
        QSignalSpy diagnostics(m_worker, &CalibrationWorker::matrixDiagnosticsReady);
        QSignalSpy snapshots(m_worker, &CalibrationWorker::matrixSnapshotReady);
        QSignalSpy blocks(m_worker, &CalibrationWorker::blockEnded);
        QSignalSpy finished(m_worker, &CalibrationWorker::finished);
        QSignalSpy failed(m_worker, &CalibrationWorker::failed);
        QSignalSpy cancelled(m_worker, &CalibrationWorker::cancelled);

        m_worker->start(request(model, text, runDir, 2, 4));
        QTRY_COMPARE_WITH_TIMEOUT(finished.count() + failed.count() + cancelled.count(), 1, 300000);
        if (!failed.isEmpty())
            QFAIL(qPrintable(failed.first().at(1).toString()));
        QCOMPARE(finished.count(), 1);

        const int numBlocks = 5;
        QCOMPARE(blocks.count(), numBlocks);
        QCOMPARE(epochs.count(), numBlocks * 2);
        for (const QList<QVariant>& args : blocks) {
            const auto b = args.at(0).value<aq::BlockSummary>();
            QVERIFY(std::isfinite(b.initialLoss) && std::isfinite(b.finalLoss) && b.finalLoss >= 0);
        }
        // Loss samples: at least the last step of every epoch, all finite, every block present.
        QSet<int> lossBlocks;
        int points = 0;
        for (const QList<QVariant>& args : losses)
            for (const aq::StepLoss& p : args.at(0).value<QVector<aq::StepLoss>>()) {
                QVERIFY2(std::isfinite(p.loss) && p.loss >= 0, qPrintable(QString::number(p.loss)));
                lossBlocks.insert(p.block);
                ++points;
            }
        QVERIFY(points >= numBlocks * 2);
        QCOMPARE(lossBlocks.size(), numBlocks);
        // Matrices: a frame per transform and epoch, every entry finite.
        QVERIFY(snapshots.count() >= numBlocks * 2);
        for (const QList<QVariant>& args : snapshots) {
            const auto frame = args.at(0).value<aq::widgets::MatrixFrame>();
            QVERIFY(frame.rows > 0 && frame.cols > 0);
            QCOMPARE(frame.values.size(), qsizetype(frame.rows) * frame.cols);
            for (float v : frame.values)
                QVERIFY(std::isfinite(v));
        }
        // Margins: one per row of every matrix, finite, the minimum among them.
        QVERIFY(diagnostics.count() >= numBlocks * 2);
        for (const QList<QVariant>& args : diagnostics) {
            const auto d = args.at(0).value<aq::MatrixDiagnostics>();
            QVERIFY(d.size > 0);
            QCOMPARE(qsizetype(d.rowMargins.size()), qsizetype(d.size));
            float lowest = d.rowMargins.front();
            for (float m : d.rowMargins) {
                QVERIFY(std::isfinite(m));
                lowest = std::min(lowest, m);
            }
            QVERIFY(std::abs(d.minMargin - lowest) <= 1e-5 * (1 + std::abs(lowest)));
        }
        QVERIFY2(runDevice(runDir).startsWith(QString::fromStdString(testDevice())), qPrintable(runDevice(runDir)));
    }

    void storiesCancelMidRun()
    {
        AQ_REQUIRE_FIXTURE(model, "models/stories260K-hf");
        AQ_REQUIRE_FIXTURE(text, "text/wikitext2_valid_tokens.txt");
        const QString runDir = m_tmp.filePath(QStringLiteral("stories-cancelled"));
        QSignalSpy losses(m_worker, &CalibrationWorker::lossesReady);
        QSignalSpy finished(m_worker, &CalibrationWorker::finished);
        QSignalSpy failed(m_worker, &CalibrationWorker::failed);
        QSignalSpy cancelled(m_worker, &CalibrationWorker::cancelled);
        m_worker->start(request(model, text, runDir, 500, 16));  // minutes of work even on a GPU
        QTRY_VERIFY_WITH_TIMEOUT(losses.count() >= 1, 120000);
        m_worker->cancel();
        QTRY_COMPARE_WITH_TIMEOUT(cancelled.count(), 1, 60000);
        QCOMPARE(failed.count(), 0);
        QCOMPARE(finished.count(), 0);
        QVERIFY(!m_worker->isBusy());
        const std::filesystem::path dir(runDir.toStdString());
        QVERIFY(!std::filesystem::exists(dir / "run.json"));
        QVERIFY(!std::filesystem::exists(dir / "model" / "config.json"));
    }
};

QTEST_GUILESS_MAIN(TestWorker)
#include "tst_worker.moc"
