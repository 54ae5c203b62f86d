// The calibration worker on its own thread, driving the real engine on the bundled demo model: the signals arrive
// on the GUI thread in order, a cancel from the GUI thread ends the run as cancelled (not failed) and leaves no
// complete model, and bad input ends it as failed with the engine's code.
#include "testutil.h"

#include "calibrationworker.h"

#include <QTemporaryDir>
#include <QThread>

#include <filesystem>

using namespace aq::gui;

namespace {

aq::CalibrationRequest demoRequest(const QString& runDir, int epochs, int64_t nsamples)
{
    aq::CalibrationRequest r;
    r.modelDir = aqtest::sourcePath("resources/demo-model");
    r.calibTextPath = aqtest::sourcePath("resources/demo-text/train/northangerabbey.txt");
    r.runDir = runDir.toStdString();
    r.config = aq::presetConfig("w4a16", aq::Method::AffineQuant);
    r.config.lnMatrix = true;  // matrices, so that snapshots and margins are reported
    r.config.epochs = epochs;
    r.config.nsamples = nsamples;
    r.config.seqlen = 64;
    return r;
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
        bool allOnGuiThread = true;
        connect(m_worker, &CalibrationWorker::lossesReady, this,
                [&] { allOnGuiThread = allOnGuiThread && QThread::currentThread() == thread(); });

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
            points += int(args.at(0).value<QVector<StepLossPoint>>().size());
        QVERIFY(points >= numBlocks * 2);  // at least the last step of every epoch
        QVERIFY(diagnostics.count() >= numBlocks * 2);
        QVERIFY(snapshots.count() >= numBlocks * 2);
        const auto frame = snapshots.first().at(0).value<aq::widgets::MatrixFrame>();
        QVERIFY(frame.rows > 0 && frame.cols > 0);
        QCOMPARE(frame.values.size(), qsizetype(frame.rows) * frame.cols);
        QVERIFY(profiles.count() >= numBlocks);
        QVERIFY(histograms.count() >= numBlocks);
        const auto d = diagnostics.first().at(0).value<MatrixDiagnosticsInfo>();
        QCOMPARE(d.rowMargins.size(), qsizetype(d.size));

        const auto outcome = finished.first().at(0).value<RunOutcome>();
        QCOMPARE(outcome.runDir, runDir);
        QVERIFY(outcome.fpPerplexity > 1);
        QVERIFY(outcome.rtnPerplexity > 1);
        QVERIFY(outcome.quantPerplexity > 1);
        QVERIFY(std::filesystem::exists(std::filesystem::path(runDir.toStdString()) / "run.json"));
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
};

QTEST_GUILESS_MAIN(TestWorker)
#include "tst_worker.moc"
