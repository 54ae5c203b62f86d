#pragma once
// The ranks 1..N-1 of a data-parallel calibration started from the window: child processes of the command-line
// program that join rank 0 (the window's own worker) through the launcher's environment, and what became of them.
#include "aq/distributed.h"

#include <QObject>
#include <QString>
#include <QStringList>
#include <QVector>

#include <functional>
#include <memory>

class QProcess;
class QTemporaryFile;
class QTimer;

namespace aq::gui {

class RankProcesses : public QObject {
    Q_OBJECT
public:
    /// One child rank: its number (1 .. N-1), its device and its CPU threads.
    struct Rank {
        int rank = 1;
        QString device;
        int threads = 1;
    };

    explicit RankProcesses(QObject* parent = nullptr);
    /// Kills and reaps every child still running: none outlives this object.
    ~RankProcesses() override;

    /// The command-line program that runs the other ranks: AQ_CLI when set, otherwise `affinequant` next to this
    /// program (the package installs both into the same folder). Empty with `error` set when it is not there.
    static QString program(QString* error = nullptr);
    /// The device of `rank` when rank 0 runs on `device`: cuda:k+r for cuda:k (one device per rank), the same device
    /// otherwise (the CPU's ranks share the cores).
    static QString rankDevice(const QString& device, int rank);

    /// Starts `ranks`: `program` with `quantize` and `arguments` (the options every rank shares), the configuration
    /// `configJson` (written to a temporary file for --config), each rank's --device and --threads, and the environment
    /// of `world` (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, AQ_DIST_TIMEOUT). False with `error` set when
    /// one could not be started; those that were are stopped again. Call it only while none is running.
    bool start(const QString& program, const QStringList& arguments, const QByteArray& configJson,
               const QVector<Rank>& ranks, const aq::WorldSpec& world, QString* error);

    /// Whether a child still runs.
    bool isActive() const;
    /// The process id of `rank` (also after it ended), or 0 when this object did not start it.
    qint64 pid(int rank) const;
    /// The children started by the last start(), in rank order.
    QVector<int> ranks() const;

    /// The rank that failed first, in words ("rank 1 (pid 4242) was killed by signal 9 (SIGKILL; …)"), or empty.
    /// A rank that failed on its own comes before one that only saw another go (status 4); a rank that stop() ended
    /// does not count.
    QString failure() const;
    /// The last lines that rank wrote to its error output, or empty.
    QStringList failureOutput() const;
    /// Whether some child had to be asked to stop (finish() or stopNow()) rather than ending on its own.
    bool wereStopped() const { return m_stopping; }

    /// Ends the children without blocking: gives them `waitMs` to end on their own, then asks the rest to stop
    /// (SIGTERM) and kills what still runs `graceMs` later. `then` is called once every child has ended (on the next
    /// turn of the event loop when none runs). Replaces an earlier request's `then`.
    void finish(int waitMs, int graceMs, std::function<void()> then);
    /// The same, blocking: for a window that is going away.
    void stopNow(int graceMs);

    /// Lines kept of each rank's error output.
    static constexpr int kTailLines = 12;

signals:
    /// A rank ended with a failure before it was asked to stop. `description` as failure() words it.
    void rankFailed(int rank, const QString& description, const QStringList& lastLines);
    /// A line a rank wrote to its error output.
    void rankOutput(int rank, const QString& line);

private:
    struct Child;
    void onFinished(Child* child, int exitCode, bool crashed);
    void readOutput(Child* child, bool all);
    void terminateRunning();
    void killRunning();
    void checkAllEnded();
    QString describe(const Child& child) const;
    const Child* firstFailure() const;
    void clear();

    std::vector<std::unique_ptr<Child>> m_children;
    std::unique_ptr<QTemporaryFile> m_configFile;
    bool m_stopping = false;  ///< the children still running were asked to stop: their ends are not failures
    std::function<void()> m_then;
    QTimer* m_terminateTimer = nullptr;
    QTimer* m_killTimer = nullptr;
};

}  // namespace aq::gui
