#include "rankprocesses.h"

#include "threadpriority.h"

#include "aq/error.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QProcess>
#include <QProcessEnvironment>
#include <QTemporaryFile>
#include <QTimer>

#include <algorithm>
#include <csignal>

#ifdef Q_OS_UNIX
#include <sys/resource.h>
#endif
#ifdef Q_OS_LINUX
#include <sys/prctl.h>
#endif

namespace aq::gui {

struct RankProcesses::Child {
    int rank = 0;
    QProcess* process = nullptr;  ///< owned by the RankProcesses object
    qint64 pid = 0;
    bool ended = false;
    bool failed = false;     ///< ended with a failure before it was asked to stop
    bool secondary = false;  ///< that failure was only another rank's (status 4)
    int exitCode = 0;        ///< the exit status, or the signal that ended it
    bool crashed = false;    ///< ended by a signal
    QByteArray partial;      ///< error output after the last line break
    QStringList tail;        ///< the last lines of its error output
};

namespace {

/// The command-line program's exit statuses (aq::exitStatusFor), in words.
QString exitMeaning(int status)
{
    switch (aq::errorCodeForExitStatus(status)) {
    case aq::ErrorCode::Internal: return RankProcesses::tr("internal error");
    case aq::ErrorCode::BadInput: return RankProcesses::tr("bad input");
    case aq::ErrorCode::OutOfMemory: return RankProcesses::tr("out of memory");
    case aq::ErrorCode::PeerFailure: return RankProcesses::tr("another rank failed");
    case aq::ErrorCode::Cancelled: return RankProcesses::tr("interrupted");
    default: return {};
    }
}

}  // namespace

RankProcesses::RankProcesses(QObject* parent) : QObject(parent)
{
    m_terminateTimer = new QTimer(this);
    m_terminateTimer->setSingleShot(true);
    connect(m_terminateTimer, &QTimer::timeout, this, &RankProcesses::terminateRunning);
    m_killTimer = new QTimer(this);
    m_killTimer->setSingleShot(true);
    connect(m_killTimer, &QTimer::timeout, this, &RankProcesses::killRunning);
}

RankProcesses::~RankProcesses()
{
    // Whoever listened may be going away too.
    blockSignals(true);
    stopNow(2000);
}

QString RankProcesses::program(QString* error)
{
    const QString override = qEnvironmentVariable("AQ_CLI");
    const QString path = !override.isEmpty()
                             ? override
                             : QDir(QCoreApplication::applicationDirPath()).filePath(QStringLiteral("affinequant"));
    const QFileInfo info(path);
    if (info.isFile() && info.isExecutable())
        return info.absoluteFilePath();
    if (error)
        *error = !override.isEmpty()
                     ? tr("the command-line program named by AQ_CLI (%1) is not an executable file.").arg(path)
                     : tr("the command-line program that runs the other ranks was not found at %1. It is installed next "
                          "to AffineQuant Studio; set AQ_CLI to its path if it is elsewhere, or run one rank.")
                           .arg(path);
    return {};
}

QString RankProcesses::rankDevice(const QString& device, int rank)
{
    if (device.startsWith(QLatin1String("cuda"))) {
        const int colon = int(device.indexOf(QLatin1Char(':')));
        const int first = colon < 0 ? 0 : device.mid(colon + 1).toInt();
        return QStringLiteral("cuda:%1").arg(first + rank);
    }
    return device;
}

bool RankProcesses::start(const QString& program, const QStringList& arguments, const QByteArray& configJson,
                          const QVector<Rank>& ranks, const aq::WorldSpec& world, QString* error)
{
    if (isActive()) {
        if (error)
            *error = tr("the ranks of the previous run are still running.");
        return false;
    }
    clear();
    m_configFile = std::make_unique<QTemporaryFile>(QDir::temp().filePath(QStringLiteral("affinequant-config-XXXXXX.json")));
    if (!m_configFile->open() || m_configFile->write(configJson) != configJson.size() || !m_configFile->flush()) {
        if (error)
            *error = tr("cannot write the configuration for the other ranks to %1: %2")
                         .arg(m_configFile->fileName(), m_configFile->errorString());
        m_configFile.reset();
        return false;
    }
    m_configFile->close();

    QProcessEnvironment base = QProcessEnvironment::systemEnvironment();
    base.insert(QStringLiteral("WORLD_SIZE"), QString::number(world.worldSize));
    base.insert(QStringLiteral("LOCAL_WORLD_SIZE"), QString::number(world.worldSize));
    base.insert(QStringLiteral("MASTER_ADDR"), QString::fromStdString(world.masterAddr));
    base.insert(QStringLiteral("MASTER_PORT"), QString::number(world.masterPort));
    base.insert(QStringLiteral("AQ_DIST_TIMEOUT"), QString::number(world.timeoutSeconds));
    for (const Rank& r : ranks) {
        auto child = std::make_unique<Child>();
        Child* c = child.get();
        c->rank = r.rank;
        c->process = new QProcess(this);
        QProcessEnvironment env = base;
        env.insert(QStringLiteral("RANK"), QString::number(r.rank));
        env.insert(QStringLiteral("LOCAL_RANK"), QString::number(r.rank));
        c->process->setProcessEnvironment(env);
        c->process->setProgram(program);
        c->process->setArguments(QStringList{QStringLiteral("quantize")} + arguments +
                                 QStringList{QStringLiteral("--config"), m_configFile->fileName(),
                                             QStringLiteral("--device"), r.device, QStringLiteral("--threads"),
                                             QString::number(r.threads)});
        c->process->setStandardInputFile(QProcess::nullDevice());
        c->process->setStandardOutputFile(QProcess::nullDevice());  // ranks other than 0 report nothing there
#ifdef Q_OS_UNIX
        c->process->setChildProcessModifier([] {
#ifdef Q_OS_LINUX
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a window that dies takes its ranks along
#endif
            // Computes like the window's own calibration thread: the window stays responsive on a busy machine.
            ::setpriority(PRIO_PROCESS, 0, kComputeNiceness);
        });
#endif
        connect(c->process, &QProcess::readyReadStandardError, this, [this, c] { readOutput(c, false); });
        connect(c->process, &QProcess::finished, this, [this, c](int exitCode, QProcess::ExitStatus status) {
            onFinished(c, exitCode, status == QProcess::CrashExit);
        });
        m_children.push_back(std::move(child));
        c->process->start();
        if (!c->process->waitForStarted(10000)) {
            if (error)
                *error = tr("cannot start rank %1 (%2): %3").arg(r.rank).arg(program, c->process->errorString());
            c->ended = true;
            stopNow(2000);
            return false;
        }
        c->pid = c->process->processId();
    }
    return true;
}

bool RankProcesses::isActive() const
{
    return std::any_of(m_children.begin(), m_children.end(), [](const auto& c) { return !c->ended; });
}

qint64 RankProcesses::pid(int rank) const
{
    for (const auto& c : m_children)
        if (c->rank == rank)
            return c->pid;
    return 0;
}

QVector<int> RankProcesses::ranks() const
{
    QVector<int> out;
    for (const auto& c : m_children)
        out << c->rank;
    return out;
}

void RankProcesses::readOutput(Child* c, bool all)
{
    c->partial += c->process->readAllStandardError();
    // Progress lines end in carriage returns; each counts as a line.
    c->partial.replace('\r', '\n');
    QList<QByteArray> lines = c->partial.split('\n');
    c->partial = all ? QByteArray() : lines.takeLast();
    for (const QByteArray& bytes : std::as_const(lines)) {
        const QString line = QString::fromLocal8Bit(bytes).trimmed();
        if (line.isEmpty())
            continue;
        c->tail << line;
        if (c->tail.size() > kTailLines)
            c->tail.removeFirst();
        emit rankOutput(c->rank, line);
    }
}

void RankProcesses::onFinished(Child* c, int exitCode, bool crashed)
{
    readOutput(c, true);
    c->ended = true;
    c->exitCode = exitCode;
    c->crashed = crashed;
    // A rank asked to stop ends however it ends; before that, any end but a clean one is a failure.
    if (!m_stopping && (crashed || exitCode != 0)) {
        c->failed = true;
        c->secondary = !crashed && exitCode == 4;
        emit rankFailed(c->rank, describe(*c), c->tail);
    }
    QMetaObject::invokeMethod(this, &RankProcesses::checkAllEnded, Qt::QueuedConnection);
}

QString RankProcesses::describe(const Child& c) const
{
    if (c.crashed) {
        // QProcess gives the signal's number as the exit code of a process a signal ended.
        QString name = QString::fromLatin1(aq::signalName(c.exitCode));
#ifdef Q_OS_UNIX
        if (c.exitCode == SIGKILL)
            name = tr("%1; the system's out-of-memory killer sends it too").arg(name);
#endif
        return name.isEmpty() ? tr("rank %1 (pid %2) was killed by signal %3").arg(c.rank).arg(c.pid).arg(c.exitCode)
                              : tr("rank %1 (pid %2) was killed by signal %3 (%4)")
                                    .arg(c.rank)
                                    .arg(c.pid)
                                    .arg(c.exitCode)
                                    .arg(name);
    }
    const QString meaning = exitMeaning(c.exitCode);
    return meaning.isEmpty() ? tr("rank %1 (pid %2) exited with status %3").arg(c.rank).arg(c.pid).arg(c.exitCode)
                             : tr("rank %1 (pid %2) exited with status %3 (%4)")
                                   .arg(c.rank)
                                   .arg(c.pid)
                                   .arg(c.exitCode)
                                   .arg(meaning);
}

const RankProcesses::Child* RankProcesses::firstFailure() const
{
    const Child* first = nullptr;
    for (const auto& c : m_children)
        if (c->failed && (!first || (first->secondary && !c->secondary)))
            first = c.get();
    return first;
}

QString RankProcesses::failure() const
{
    const Child* c = firstFailure();
    return c ? describe(*c) : QString();
}

QStringList RankProcesses::failureOutput() const
{
    const Child* c = firstFailure();
    return c ? c->tail : QStringList();
}

void RankProcesses::finish(int waitMs, int graceMs, std::function<void()> then)
{
    m_then = std::move(then);
    m_terminateTimer->stop();
    m_killTimer->stop();
    m_killTimer->setInterval(std::max(0, graceMs));
    if (!isActive()) {
        QMetaObject::invokeMethod(this, &RankProcesses::checkAllEnded, Qt::QueuedConnection);
        return;
    }
    if (waitMs <= 0) {
        terminateRunning();
        return;
    }
    m_terminateTimer->start(waitMs);
}

void RankProcesses::terminateRunning()
{
    if (!isActive())
        return;
    m_stopping = true;
    for (const auto& c : m_children)
        if (!c->ended)
            c->process->terminate();  // SIGTERM: the program cancels and exits within seconds
    if (isActive())
        m_killTimer->start();
}

void RankProcesses::killRunning()
{
    if (!isActive())
        return;
    m_stopping = true;
    for (const auto& c : m_children)
        if (!c->ended)
            c->process->kill();
}

void RankProcesses::checkAllEnded()
{
    if (isActive() || !m_then)
        return;
    m_terminateTimer->stop();
    m_killTimer->stop();
    m_configFile.reset();  // the ranks have read it
    const std::function<void()> then = std::exchange(m_then, nullptr);
    then();
}

void RankProcesses::stopNow(int graceMs)
{
    m_terminateTimer->stop();
    m_killTimer->stop();
    if (isActive()) {
        m_stopping = true;
        for (const auto& c : m_children)
            if (!c->ended)
                c->process->terminate();
        for (const auto& c : m_children)
            if (!c->ended)
                c->process->waitForFinished(graceMs);
        for (const auto& c : m_children)
            if (!c->ended) {
                c->process->kill();
                c->process->waitForFinished(5000);
            }
    }
    m_configFile.reset();
}

void RankProcesses::clear()
{
    m_terminateTimer->stop();
    m_killTimer->stop();
    m_then = nullptr;
    m_stopping = false;
    for (const auto& c : m_children)
        delete c->process;
    m_children.clear();
    m_configFile.reset();
}

}  // namespace aq::gui
