#include "runcontroller.h"

#include "calibrationworker.h"
#include "otherranks.h"
#include "rankprocesses.h"

#include <QThread>

namespace aq::gui {

RunController::RunController(std::function<bool()> running, std::function<void()> restoreCpuPolicy, QObject* parent)
    : QObject(parent)
{
    m_thread = new QThread(this);
    m_thread->setObjectName(QStringLiteral("calibration"));
    m_worker = new CalibrationWorker;
    m_worker->moveToThread(m_thread);
    connect(m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    m_otherRanks = new OtherRanks(m_worker, std::move(running), std::move(restoreCpuPolicy), this);
    connectOutcomes();
    m_thread->start();
}

void RunController::connectOutcomes()
{
    // Rank 0's outcome is reported once the other ranks of a data-parallel run have ended: after a success they have
    // already (they end after the last block), after a failure they get a moment to end on their own so that the
    // first cause is known, after a cancel they are stopped at once.
    connect(m_worker, &CalibrationWorker::finished, this, [this](const aq::CalibrationResult& outcome) {
        m_otherRanks->afterEnd(10000, [this, outcome] { emit finished(outcome); });
    });
    connect(m_worker, &CalibrationWorker::failed, this, [this](aq::ErrorCode code, const QString& detail) {
        m_otherRanks->afterEnd(code == aq::ErrorCode::PeerFailure ? 3000 : 0,
                               [this, code, detail] { fail(code, detail); });
    });
    connect(m_worker, &CalibrationWorker::cancelled, this, [this] {
        m_otherRanks->afterEnd(0, [this] {
            // Stopped because a rank failed before the ranks met, not by the user.
            if (m_otherRanks->stoppedForRank())
                fail(aq::ErrorCode::PeerFailure, tr("rank 0 stopped waiting for the other ranks to join."));
            else
                emit cancelled();
        });
    });
}

void RunController::fail(aq::ErrorCode code, const QString& detail)
{
    // A rank that a cancel stopped takes the others along: the run was cancelled, not failed.
    if (code == aq::ErrorCode::PeerFailure && m_worker->cancelRequested() && !m_otherRanks->stoppedForRank()) {
        emit cancelled();
        return;
    }
    emit failed(code, detail, m_otherRanks->failureCause(code, m_request));
}

bool RunController::prepare(const aq::CalibrationRequest& request, int ranks, QString* problem)
{
    m_request = request;
    return m_otherRanks->start(m_request, ranks, problem);
}

void RunController::launch() { m_worker->start(m_request); }

void RunController::cancel() { m_worker->cancel(); }  // atomic store: the engine sees it at its next check

bool RunController::cancelRequested() const { return m_worker->cancelRequested(); }

RunFolders::Stopped RunController::keepOrRemoveStoppedRun() const
{
    return RunFolders::keepOrRemove(QString::fromStdString(m_request.runDir), m_request.resume);
}

void RunController::shutDown()
{
    m_otherRanks->processes()->blockSignals(true);
    m_otherRanks->processes()->stopNow(3000);
    m_worker->cancel();
    m_thread->quit();
    m_thread->wait();
}

}  // namespace aq::gui
