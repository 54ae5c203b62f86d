#include "launch.h"

#include "aq/distributed.h"
#include "aq/error.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <thread>

extern char** environ;

namespace aqcli {

std::string describeExit(int status)
{
    if (WIFEXITED(status)) {
        const int code = WEXITSTATUS(status);
        std::string s = "exited with status " + std::to_string(code);
        if (const aq::ErrorCode meaning = aq::errorCodeForExitStatus(code); meaning != aq::ErrorCode::Invalid)
            s += std::string(" (") + aq::errorCodeName(meaning) + ")";
        return s;
    }
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        std::string s = "was killed by signal " + std::to_string(sig);
        if (const char* name = aq::signalName(sig))
            s += std::string(" (") + name + (sig == SIGKILL ? "; the system's out-of-memory killer sends it too)" : ")");
        return s;
    }
    return "ended (status " + std::to_string(status) + ")";
}

LocalLauncher::LocalLauncher(int nproc, const std::vector<std::vector<std::string>>& rankArgs, int timeoutSeconds)
{
    const char* fixedPort = std::getenv("MASTER_PORT");
    m_port = fixedPort && *fixedPort ? std::atoi(fixedPort) : aq::freeLoopbackPort();
    if (m_port <= 0)
        aq::badInput(std::string("cannot find a free port for the ranks' rendezvous: ") + std::strerror(errno) +
                     "; set MASTER_PORT");
    const std::string port = std::to_string(m_port);
    ::setenv("MASTER_ADDR", "127.0.0.1", 1);
    ::setenv("MASTER_PORT", port.c_str(), 1);
    ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
    ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
    ::setenv("AQ_DIST_TIMEOUT", std::to_string(timeoutSeconds).c_str(), 1);
    ::setenv("RANK", "0", 1);
    ::setenv("LOCAL_RANK", "0", 1);
    const pid_t parent = ::getpid();
    for (int r = 1; r < nproc; ++r) {
        // Everything the child needs is built before fork: between fork and exec it only calls what is safe there.
        std::vector<std::string> argStrings = {"affinequant", "quantize"};
        argStrings.insert(argStrings.end(), rankArgs[static_cast<size_t>(r)].begin(), rankArgs[static_cast<size_t>(r)].end());
        std::vector<char*> argv;
        for (auto& a : argStrings)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        std::vector<std::string> envStrings;
        for (char** e = environ; *e; ++e)
            if (std::strncmp(*e, "RANK=", 5) != 0 && std::strncmp(*e, "LOCAL_RANK=", 11) != 0)
                envStrings.emplace_back(*e);
        envStrings.push_back("RANK=" + std::to_string(r));
        envStrings.push_back("LOCAL_RANK=" + std::to_string(r));
        std::vector<char*> envp;
        for (auto& e : envStrings)
            envp.push_back(e.data());
        envp.push_back(nullptr);
        const pid_t pid = ::fork();
        if (pid < 0) {
            stopAll(2);
            aq::badInput(std::string("cannot start rank ") + std::to_string(r) + ": " + std::strerror(errno));
        }
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a parent that is killed takes its ranks along
            if (::getppid() != parent)
                ::_exit(4);
            ::execve("/proc/self/exe", argv.data(), envp.data());
            ::_exit(127);
        }
        m_ranks.push_back({r, pid, -1, false});
    }
}

LocalLauncher::~LocalLauncher()
{
    m_quit = true;
    if (m_watcher.joinable())
        m_watcher.join();
    stopAll(5);
}

void LocalLauncher::watch(std::atomic<bool>& stop, const std::atomic<bool>& interrupted)
{
    m_watcher = std::thread([this, &stop, &interrupted] {
        while (!m_quit.load()) {
            bool failed = false;
            {
                std::lock_guard<std::mutex> lock(m_mutex);
                reap(false);
                for (const auto& c : m_ranks)
                    failed = failed || (c.ended && !(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0));
            }
            if (failed || interrupted.load()) {
                stop = true;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    });
}

void LocalLauncher::reap(bool block)
{
    for (auto& c : m_ranks) {
        if (c.ended)
            continue;
        int status = 0;
        const pid_t got = ::waitpid(c.pid, &status, block ? 0 : WNOHANG);
        if (got == c.pid) {
            c.status = status;
            c.ended = true;
        }
    }
}

bool LocalLauncher::waitAll(double seconds)
{
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    for (;;) {
        std::unique_lock<std::mutex> lock(m_mutex);
        reap(false);
        bool running = false;
        for (const auto& c : m_ranks)
            running = running || !c.ended;
        if (!running)
            return true;
        lock.unlock();
        if (std::chrono::steady_clock::now() >= until)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

void LocalLauncher::stopAll(double graceSeconds)
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        reap(false);
        for (const auto& c : m_ranks)
            if (!c.ended) {
                ::kill(c.pid, SIGTERM);
                ::kill(c.pid, SIGCONT);  // a stopped rank takes the signal too
            }
    }
    if (waitAll(graceSeconds))
        return;
    std::lock_guard<std::mutex> lock(m_mutex);
    for (const auto& c : m_ranks)
        if (!c.ended)
            ::kill(c.pid, SIGKILL);
    reap(true);
}

std::string LocalLauncher::firstFailure(int* exitStatus) const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    // A rank that failed on its own comes before the ranks that only saw it go (status 4) or were stopped.
    const LocalRank* first = nullptr;
    for (const auto& c : m_ranks) {
        if (!c.ended || (WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0))
            continue;
        const bool secondary = WIFEXITED(c.status) && WEXITSTATUS(c.status) == 4;
        if (!first || (!secondary && WIFEXITED(first->status) && WEXITSTATUS(first->status) == 4))
            first = &c;
    }
    if (!first)
        return {};
    if (exitStatus)
        *exitStatus = WIFEXITED(first->status) ? WEXITSTATUS(first->status) : 4;
    return "rank " + std::to_string(first->rank) + " (pid " + std::to_string(first->pid) + ") " +
           describeExit(first->status);
}

}  // namespace aqcli
