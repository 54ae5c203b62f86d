#include "otherranks.h"

#include "calibrationworker.h"
#include "enginemessages.h"
#include "rankprocesses.h"

#include "aq/device.h"

#include <QStringList>

#include <algorithm>

namespace aq::gui {

OtherRanks::OtherRanks(CalibrationWorker* worker, std::function<bool()> running,
                       std::function<void()> restoreCpuPolicy, QObject* parent)
    : QObject(parent), m_worker(worker), m_running(std::move(running)), m_restoreCpuPolicy(std::move(restoreCpuPolicy))
{
    m_processes = new RankProcesses(this);
    connect(m_processes, &RankProcesses::rankOutput, this,
            [this](int rank, const QString& line) { emit logLine(tr("[rank %1] %2").arg(rank).arg(line)); });
    connect(m_processes, &RankProcesses::rankFailed, this, &OtherRanks::onRankFailed);
}

bool OtherRanks::start(aq::CalibrationRequest& request, int ranks, QString* detail)
{
    request.world = aq::WorldSpec{};
    m_met = false;
    m_stoppedForRank = false;
    if (ranks <= 1)
        return true;
    const aq::QuantConfig& c = request.config;
    const QString device = QString::fromStdString(c.device);
    try {
        aq::validateWorld(c, ranks);
    } catch (const aq::Error& e) {
        *detail = engineMessageForWindow(QString::fromStdString(e.what()));
        return false;
    }
    std::string why;
    if (!aq::distributedBackendAvailable(c.device, &why)) {
        *detail = engineMessageForWindow(QString::fromStdString(why));
        return false;
    }
    if (device.startsWith(QLatin1String("cuda"))) {
        // One device per rank, from the selected one on.
        QStringList available;
        try {
            for (const aq::DeviceInfo& d : aq::listDevices())
                available << QString::fromStdString(d.id);
        } catch (const std::exception&) {
        }
        for (int r = 0; r < ranks; ++r) {
            const QString needed = RankProcesses::rankDevice(device, r);
            if (!available.contains(needed)) {
                *detail = tr("rank %1 would run on %2, which does not exist. On CUDA each rank takes its own device "
                             "from the selected one on: choose fewer ranks or an earlier device.")
                              .arg(r)
                              .arg(needed);
                return false;
            }
        }
    }
    const QString program = RankProcesses::program(detail);
    if (program.isEmpty())
        return false;
    const int port = aq::freeLoopbackPort();
    if (port <= 0) {
        *detail = tr("no free port on the loopback interface for the ranks to meet at.");
        return false;
    }

    // The ranks share the cores as the command-line program's do: each computes with its share, rank 0 (this
    // process) too, until the run has ended.
    const aq::CpuThreads cpu = aq::currentCpuThreads();
    const int threads = std::max(1, cpu.used / ranks);
    aq::WorldSpec world;
    world.rank = 0;
    world.worldSize = ranks;
    world.localRank = 0;
    world.masterAddr = "127.0.0.1";
    world.masterPort = port;
    // How long a rank that does not answer is waited for; AQ_DIST_TIMEOUT as for the command-line program.
    bool timeoutSet = false;
    const int timeout = qEnvironmentVariableIntValue("AQ_DIST_TIMEOUT", &timeoutSet);
    world.timeoutSeconds = timeoutSet && timeout > 0 ? timeout : 900;
    QStringList arguments{QStringLiteral("--model"), QString::fromStdString(request.modelDir),
                          QStringLiteral("--calib"), QString::fromStdString(request.calibTextPath),
                          QStringLiteral("--out"), QString::fromStdString(request.runDir)};
    if (request.resume)
        arguments << QStringLiteral("--resume");
    QVector<RankProcesses::Rank> children;
    for (int r = 1; r < ranks; ++r)
        children.push_back({r, RankProcesses::rankDevice(device, r), threads});
    if (!m_processes->start(program, arguments, QByteArray::fromStdString(aq::quantConfigJson(c)), children, world,
                            detail))
        return false;
    for (const RankProcesses::Rank& r : std::as_const(children))
        emit logLine(tr("Started rank %1 (pid %2) on %3 with %n CPU thread(s)", nullptr, r.threads)
                         .arg(r.rank)
                         .arg(m_processes->pid(r.rank))
                         .arg(r.device));
    aq::configureCpu(threads);
    m_cpuSplit = true;
    request.world = world;
    return true;
}

void OtherRanks::afterEnd(int waitMs, std::function<void()> handler)
{
    if (!m_processes->isActive() && !m_cpuSplit) {
        handler();
        return;
    }
    if (m_processes->isActive())
        emit stateText(tr("Waiting for the other ranks to end…"));
    m_processes->finish(waitMs, 3000, [this, handler = std::move(handler)] {
        if (m_processes->wereStopped())
            emit logLine(tr("The other ranks were stopped."));
        if (m_cpuSplit) {
            m_cpuSplit = false;
            m_restoreCpuPolicy();  // the window's own policy again
        }
        handler();
    });
}

void OtherRanks::onRankFailed(int rank, const QString& description, const QStringList& lastLines)
{
    Q_UNUSED(rank);
    Q_UNUSED(lastLines);  // already in the log, line by line
    if (!m_running() || m_worker->cancelRequested())
        return;
    emit logLine(tr("Another rank stopped: %1").arg(description));
    if (!m_met) {
        // Rank 0 is still waiting for the others to arrive: it stops waiting now, and the error names this rank.
        m_stoppedForRank = true;
        emit stateText(tr("Another rank stopped; ending the run…"));
        m_worker->cancel();
        return;
    }
    // Rank 0 notices at its next exchange with the others and fails; its error names this rank.
    emit stateText(tr("Another rank stopped; ending the run…"));
}

QString OtherRanks::failureCause(aq::ErrorCode code, const aq::CalibrationRequest& request) const
{
    if ((code != aq::ErrorCode::PeerFailure && m_met) || !request.world.distributed() ||
        m_processes->failure().isEmpty())
        return {};
    QString cause = m_processes->failure();
    const QStringList lastLines = m_processes->failureOutput();
    if (!lastLines.isEmpty())
        cause = tr("%1, saying: %2").arg(cause, lastLines.last().left(300));
    return cause;
}

}  // namespace aq::gui
