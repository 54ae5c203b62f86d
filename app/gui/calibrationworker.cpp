#include "calibrationworker.h"

#include "coreconvert.h"
#include "threadpriority.h"

#include <QCoreApplication>
#include <QMetaObject>
#include <QThread>

#include <exception>

namespace aq::gui {

CalibrationWorker::CalibrationWorker(QObject* parent) : QObject(parent)
{
    // Queued connections copy the arguments through the meta-type system.
    qRegisterMetaType<aq::StepLoss>();
    qRegisterMetaType<QVector<aq::StepLoss>>();
    qRegisterMetaType<aq::EpochSummary>();
    qRegisterMetaType<aq::MatrixDiagnostics>();
    qRegisterMetaType<aq::Recovery>();
    qRegisterMetaType<aq::BlockSummary>();
    qRegisterMetaType<aq::CalibrationResult>();
    qRegisterMetaType<aq::ErrorCode>();
    qRegisterMetaType<aq::Stage>();
    qRegisterMetaType<aq::Progress>();
    qRegisterMetaType<aq::widgets::MatrixFrame>();
    qRegisterMetaType<aq::widgets::ActivationProfileData>();
    qRegisterMetaType<aq::widgets::WeightHistogramData>();
}

void CalibrationWorker::start(const aq::CalibrationRequest& request)
{
    // Reset here, not in runNow(): a Cancel pressed between queuing and starting must still count.
    m_cancel.store(false);
    m_busy.store(true);
    QMetaObject::invokeMethod(this, [this, request] { runNow(request); }, Qt::QueuedConnection);
}

void CalibrationWorker::runNow(const aq::CalibrationRequest& request)
{
    if (!m_priorityLowered && QThread::currentThread() != QCoreApplication::instance()->thread()) {
        lowerCurrentThreadPriority();
        m_priorityLowered = true;
    }
    m_busy.store(true);
    m_pendingLosses.clear();
    m_sinceFlush.start();
    emit started();
    // Exactly one terminal signal. Cancelled is an outcome of its own: the engine reports it as Error(Cancelled).
    try {
        const aq::CalibrationResult result = aq::runCalibration(request, this, &m_cancel);
        flushLosses();
        m_busy.store(false);
        emit finished(result);
    } catch (const aq::Error& e) {
        flushLosses();
        m_busy.store(false);
        if (e.code() == aq::ErrorCode::Cancelled)
            emit cancelled();
        else
            emit failed(e.code(), QString::fromStdString(e.what()));
    } catch (const std::exception& e) {
        flushLosses();
        m_busy.store(false);
        emit failed(aq::ErrorCode::Internal, QString::fromStdString(e.what()));
    } catch (...) {
        flushLosses();
        m_busy.store(false);
        emit failed(aq::ErrorCode::Internal, QStringLiteral("unknown exception"));
    }
}

aq::RunViewsSummary CalibrationWorker::replay(const QString& runDir, int blockLimit)
{
    // The loss buffer and its clock belong to a live run while there is one.
    if (m_busy.load())
        throw aq::Error(aq::ErrorCode::BadInput, "a calibration is running: its views cannot be replaced now");
    m_pendingLosses.clear();
    m_sinceFlush.start();
    const aq::RunViewsSummary summary = aq::replayRunViews(runDir.toStdString(), *this, nullptr, blockLimit);
    flushLosses();
    return summary;
}

void CalibrationWorker::flushLosses()
{
    if (m_pendingLosses.isEmpty())
        return;
    emit lossesReady(m_pendingLosses);
    m_pendingLosses.clear();
    m_sinceFlush.restart();
}

void CalibrationWorker::progress(const aq::Progress& p) { emit progressed(p); }

void CalibrationWorker::stage(aq::Stage what, int block, int numBlocks)
{
    flushLosses();
    emit stageChanged(what, block, numBlocks);
}

void CalibrationWorker::stepLoss(const aq::StepLoss& s)
{
    m_pendingLosses.push_back(s);
    if (m_sinceFlush.elapsed() >= kLossBatchIntervalMs)
        flushLosses();
}

void CalibrationWorker::epochFinished(const aq::EpochSummary& e)
{
    flushLosses();  // the epoch's last losses belong before its summary
    emit epochEnded(e);
}

void CalibrationWorker::matrixDiagnostics(const aq::MatrixDiagnostics& d) { emit matrixDiagnosticsReady(d); }

void CalibrationWorker::matrixSnapshot(const aq::MatrixSnapshot& m) { emit matrixSnapshotReady(toMatrixFrame(m)); }

void CalibrationWorker::activationProfile(const aq::ActivationProfile& a)
{
    emit activationProfileReady(toActivationProfile(a));
}

void CalibrationWorker::weightHistogram(const aq::WeightHistogram& h) { emit weightHistogramReady(toWeightHistogram(h)); }

void CalibrationWorker::recovery(const aq::Recovery& r)
{
    flushLosses();
    emit recoveryHappened(r);
}

void CalibrationWorker::blockFinished(const aq::BlockSummary& b)
{
    flushLosses();
    emit blockEnded(b);
}

void CalibrationWorker::log(const std::string& line) { emit logLine(QString::fromStdString(line)); }

}  // namespace aq::gui
