#include "run_directory.h"

#include "aq/error.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace aq::detail {

namespace {

constexpr const char* kLockName = ".affinequant.lock";

/// The process id the lock's holder wrote into the file ("" when it has not written it yet).
std::string holderOf(int fd)
{
    for (int attempt = 0; attempt < 20; ++attempt) {
        char buf[32] = {};
        const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        if (n > 0) {
            std::string s(buf, static_cast<size_t>(n));
            while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
                s.pop_back();
            if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos)
                return s;
        }
        // The holder locks first and writes its id right after; give it a moment.
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return {};
}

bool isOutOfSpaceCode(const std::error_code& ec)
{
    return ec == std::errc::no_space_on_device || (ec.category() == std::generic_category() && ec.value() == EDQUOT) ||
           (ec.category() == std::system_category() && (ec.value() == ENOSPC || ec.value() == EDQUOT));
}

}  // namespace

const char* RunDirectoryLock::fileName() { return kLockName; }

RunDirectoryLock::RunDirectoryLock(const fs::path& dir) : m_dir(dir), m_path(dir / kLockName)
{
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
        badInput("'" + dir.string() + "' exists and is not a folder");
    if (!fs::exists(dir, ec)) {
        fs::create_directories(dir, ec);
        if (ec)
            badInput("cannot create the run directory '" + dir.string() + "': " + ec.message());
        m_createdDir = true;
    }
    // A holder removes the file when it finishes; whoever opened the old file before that must open the new one.
    for (int attempt = 0; attempt < 100; ++attempt) {
        const int fd = ::open(m_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            badInput("cannot create the lock file '" + m_path.string() + "': " + std::strerror(errno));
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            const int err = errno;
            if (err == EWOULDBLOCK) {
                const std::string pid = holderOf(fd);
                ::close(fd);
                badInput("run directory '" + dir.string() + "' is in use by another run (" +
                         (pid.empty() ? std::string("another process") : "process " + pid) +
                         " holds its lock file " + kLockName + "); wait for that run to finish or stop it, or choose "
                         "another --out");
            }
            ::close(fd);
            badInput("cannot lock the run directory '" + dir.string() + "' (" + std::strerror(err) +
                     "); choose an --out on a local filesystem");
        }
        struct stat held {}, now {};
        if (::fstat(fd, &held) != 0 || ::stat(m_path.c_str(), &now) != 0 || held.st_ino != now.st_ino ||
            held.st_dev != now.st_dev) {
            ::close(fd);
            continue;
        }
        const std::string pid = std::to_string(::getpid()) + "\n";
        if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
            // The lock holds without the id; only the message of a refused second run is less specific.
        }
        m_fd = fd;
        return;
    }
    badInput("cannot lock the run directory '" + dir.string() + "': its lock file keeps being replaced");
}

RunDirectoryLock::~RunDirectoryLock()
{
    if (m_fd < 0)
        return;
    // Unlink while still holding the lock: a waiter that opened this file sees it was replaced and opens again.
    ::unlink(m_path.c_str());
    ::close(m_fd);
    std::error_code ec;
    if (m_createdDir && fs::is_empty(m_dir, ec) && !ec)
        fs::remove(m_dir, ec);
}

bool runDirectoryIsEmpty(const fs::path& dir)
{
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.path().filename() != kLockName)
            return false;
    return true;
}

void clearRunDirectory(const fs::path& dir)
{
    std::error_code ec;
    std::vector<fs::path> entries;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.path().filename() != kLockName)
            entries.push_back(e.path());
    for (const auto& p : entries) {
        fs::remove_all(p, ec);
        if (ec)
            badInput("cannot remove '" + p.string() + "' to replace the run: " + ec.message());
    }
}

int64_t availableBytes(const fs::path& path)
{
    fs::path p = path;
    std::error_code ec;
    while (!p.empty() && !fs::exists(p, ec))
        p = p.parent_path();
    if (p.empty())
        p = ".";
    struct statvfs s {};
    if (::statvfs(p.c_str(), &s) != 0)
        return -1;
    return static_cast<int64_t>(s.f_bavail) * static_cast<int64_t>(s.f_frsize);
}

std::string formatBytes(double bytes)
{
    char buf[32];
    if (bytes >= 1e9)
        std::snprintf(buf, sizeof buf, "%.2f GB", bytes / 1e9);
    else if (bytes >= 1e6)
        std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
    else
        std::snprintf(buf, sizeof buf, "%.0f kB", bytes / 1e3);
    return buf;
}

void requireFreeSpace(const fs::path& dir, uint64_t neededBytes, const std::string& purpose)
{
    const int64_t freeBytes = availableBytes(dir);
    if (freeBytes < 0 || static_cast<uint64_t>(freeBytes) >= neededBytes)
        return;
    badInput("not enough disk space in '" + dir.string() + "': " + purpose + " needs about " +
             formatBytes(static_cast<double>(neededBytes)) + " but only " + formatBytes(static_cast<double>(freeBytes)) +
             " are free there; free some space or choose another --out");
}

void rethrowIfOutOfSpace(std::exception_ptr error, const fs::path& target, uint64_t stillNeeded,
                         const std::string& advice)
{
    bool full = false;
    std::string detail;
    try {
        std::rethrow_exception(error);
    } catch (const Error& e) {
        if (e.code() == ErrorCode::Cancelled || e.code() == ErrorCode::OutOfMemory)
            return;
        detail = e.what();
    } catch (const std::system_error& e) {  // std::filesystem::filesystem_error included
        full = isOutOfSpaceCode(e.code());
        detail = e.what();
    } catch (const std::exception& e) {
        detail = e.what();
    } catch (...) {
        return;
    }
    const int64_t freeBytes = availableBytes(target.parent_path());
    if (!full)
        full = freeBytes >= 0 && static_cast<uint64_t>(freeBytes) < stillNeeded;
    if (!full)
        return;
    std::string msg = "out of disk space writing '" + target.string() + "'";
    if (freeBytes >= 0)
        msg += ": about " + formatBytes(static_cast<double>(stillNeeded)) + " more are needed there and " +
               formatBytes(static_cast<double>(freeBytes)) + " are free";
    badInput(msg + "; " + advice + " (" + detail.substr(0, 200) + ")");
}

}  // namespace aq::detail
