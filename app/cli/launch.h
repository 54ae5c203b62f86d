#pragma once
// `affinequant quantize --nproc N`: starts ranks 1..N-1 of a data-parallel calibration as child processes of this
// one (rank 0), through the same environment an external launcher sets, and watches them.
#include <atomic>
#include <mutex>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace aqcli {

struct LocalRank {
    int rank = 0;
    pid_t pid = -1;
    int status = -1;    ///< waitpid's status once it ended
    bool ended = false;
};

class LocalLauncher {
public:
    /// Starts ranks 1..nproc-1: this program again with `args` (the quantize command's options, without --nproc,
    /// with each rank's --threads and --device where given), RANK/LOCAL_RANK, WORLD_SIZE, MASTER_ADDR=127.0.0.1,
    /// MASTER_PORT (a free port unless MASTER_PORT is set) and AQ_DIST_TIMEOUT. Children die with this process.
    LocalLauncher(int nproc, const std::vector<std::vector<std::string>>& rankArgs, int timeoutSeconds);
    /// Stops and reaps every child still running.
    ~LocalLauncher();
    LocalLauncher(const LocalLauncher&) = delete;
    LocalLauncher& operator=(const LocalLauncher&) = delete;

    /// The port the ranks meet at (set in this process's environment too, for rank 0).
    int port() const { return m_port; }
    /// Waits up to `seconds` for every child to end; returns false if some still run.
    bool waitAll(double seconds);
    /// SIGTERM to the children still running, then SIGKILL after `graceSeconds`; reaps them.
    void stopAll(double graceSeconds);
    /// Watches the children from a thread of its own: `stop` is set once one ends with a failure or `interrupted` is
    /// set, so that rank 0 stops at its next check even while it waits for the others to join.
    void watch(std::atomic<bool>& stop, const std::atomic<bool>& interrupted);
    /// Ends the watch: once every block is calibrated rank 0 needs the others no more.
    void stopWatching() { m_quit = true; }
    /// The first child that ended with a failure ("rank 1 (pid 4242) exited with status 3 (out of memory)"), or
    /// empty; `exitStatus` receives the status to exit with.
    std::string firstFailure(int* exitStatus) const;

private:
    void reap(bool block);  ///< callers hold m_mutex
    std::vector<LocalRank> m_ranks;
    int m_port = 0;
    mutable std::mutex m_mutex;
    std::thread m_watcher;
    std::atomic<bool> m_quit{false};
};

/// What a waitpid status means, in words ("exited with status 3 (out of memory)", "was killed by signal 9 (SIGKILL)").
std::string describeExit(int status);

}  // namespace aqcli
