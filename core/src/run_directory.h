#pragma once
// A run directory's guards (internal, no torch): the advisory lock that keeps two runs out of one folder, and the
// free-space checks that turn a full disk into a message saying where and how much.
#include <cstdint>
#include <exception>
#include <filesystem>
#include <string>

namespace aq::detail {

/// An exclusive advisory lock (flock) on `<dir>/.affinequant.lock`, held for the object's lifetime. Every program
/// that writes a run (the command-line program and the desktop application) takes it before touching the folder,
/// so a second run on the same folder is refused instead of replacing the first one's files.
///
/// The constructor creates `dir` when it does not exist, and throws BadInput naming the process that holds the lock.
/// The destructor removes the lock file, and the folder too when the lock created it and nothing else was written.
class RunDirectoryLock {
public:
    explicit RunDirectoryLock(const std::filesystem::path& dir);
    ~RunDirectoryLock();
    RunDirectoryLock(const RunDirectoryLock&) = delete;
    RunDirectoryLock& operator=(const RunDirectoryLock&) = delete;

    /// Name of the lock file inside the run directory (every listing of the folder's contents ignores it).
    static const char* fileName();

private:
    std::filesystem::path m_dir;
    std::filesystem::path m_path;
    int m_fd = -1;
    bool m_createdDir = false;
};

/// Whether `dir` has nothing in it but (possibly) the lock file.
bool runDirectoryIsEmpty(const std::filesystem::path& dir);
/// Removes everything inside `dir` except the lock file.
void clearRunDirectory(const std::filesystem::path& dir);

/// Bytes an unprivileged writer can still use on the filesystem that holds `path` (or its nearest existing
/// parent); -1 when unknown.
int64_t availableBytes(const std::filesystem::path& path);

/// "12.3 MB", "1.20 GB": sizes in messages.
std::string formatBytes(double bytes);

/// Throws BadInput when the filesystem holding `dir` has less than `neededBytes` available; the message names the
/// folder, what `purpose` needs and what is free.
void requireFreeSpace(const std::filesystem::path& dir, uint64_t neededBytes, const std::string& purpose);

/// When `error` (thrown while writing `target`) is a full disk or an exceeded quota — a filesystem error saying so,
/// or a failure with less than `stillNeeded` bytes left on the filesystem — throws BadInput saying where and how
/// much, ending with `advice`. Returns normally for any other failure, which the caller rethrows as it is.
void rethrowIfOutOfSpace(std::exception_ptr error, const std::filesystem::path& target, uint64_t stillNeeded,
                         const std::string& advice);

}  // namespace aq::detail
