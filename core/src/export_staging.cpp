// An export's destination: checked up front, written under a temporary name beside it, published by a rename.
#include "export_plan.h"

#include "aq/error.h"
#include "publish.h"
#include "torch_util.h"

#include <unistd.h>

namespace fs = std::filesystem;

namespace aq::detail {

namespace {
bool inside(const fs::path& child, const fs::path& parent)
{
    auto c = child.begin();
    for (auto p = parent.begin(); p != parent.end(); ++p, ++c)
        if (c == child.end() || *c != *p)
            return false;
    return true;
}

fs::path canonicalOr(const fs::path& p)
{
    std::error_code ec;
    const fs::path c = fs::weakly_canonical(p, ec);
    return ec ? p : c;
}
}  // namespace

StagedOutput::StagedOutput(const std::string& dest, const fs::path& runDir, bool force, bool isFile)
    : m_dest(dest), m_isFile(isFile)
{
    m_out = fs::absolute(fs::path(dest)).lexically_normal();
    if (m_out.filename().empty())
        m_out = m_out.parent_path();
    const fs::path runAbs = canonicalOr(fs::absolute(runDir));
    const fs::path outCanon = canonicalOr(m_out);
    if (inside(outCanon, runAbs) || inside(runAbs, outCanon))
        badInput(std::string("the export ") + (isFile ? "file" : "folder") + " '" + dest +
                 "' must not be the run directory, inside it or contain it");
    std::error_code ec;
    m_hadOld = fs::exists(m_out, ec);
    if (m_hadOld) {
        if (!force)
            badInput("'" + dest + "' already exists; choose another " + (isFile ? "file name" : "folder") +
                     ", or add --force to replace it");
        if (isFile && !fs::is_regular_file(m_out))
            badInput("'" + dest + "' exists and is not a regular file; remove it or choose another --out");
        if (!isFile && !fs::is_directory(m_out))
            badInput("'" + dest + "' exists and is not a folder; remove it or choose another --out");
    }
}

StagedOutput::~StagedOutput()
{
    if (!m_published && !m_tmp.empty()) {
        std::error_code ignored;
        fs::remove_all(m_tmp, ignored);
    }
}

void StagedOutput::begin()
{
    const fs::path parent = m_out.parent_path();
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec)
        badInput("cannot create the folder '" + parent.string() + "': " + ec.message() + "; nothing was written");
    m_tmp = parent / ("." + m_out.filename().string() + ".partial-" + std::to_string(::getpid()));
    fs::remove_all(m_tmp, ec);
    if (m_isFile) {
        if (::access(parent.c_str(), W_OK) != 0)
            badInput("cannot write into '" + parent.string() +
                     "' (read-only location or no permission?); nothing was written");
        return;
    }
    if (!fs::create_directory(m_tmp, ec) || ec)
        badInput("cannot write into '" + parent.string() + "': " + (ec ? ec.message() : std::string("unknown error")) +
                 " (read-only location or no permission?); nothing was written");
}

void StagedOutput::publish()
{
    const std::string failure = "cannot move the export into '" + m_dest + "'";
    if (m_isFile)
        publishFile(m_tmp, m_out, failure);
    else
        publishFolder(m_tmp, m_out, failure, "cannot replace '" + m_dest + "'");
    m_published = true;
}

std::string StagedOutput::outcome() const
{
    return m_hadOld ? " (the existing '" + m_dest + "' was left as it was)" : " (nothing was left at '" + m_dest + "')";
}

void rethrowExportFailure(StagedOutput& staged, const std::string& memoryHint)
{
    if (!staged.temporary().empty()) {
        std::error_code ignored;
        fs::remove_all(staged.temporary(), ignored);
    }
    try {
        throw;
    } catch (const Error& e) {
        if (e.code() == ErrorCode::BadInput)
            throw Error(e.code(), std::string(e.what()) + staged.outcome());
        throw;
    } catch (...) {
        rethrowAsAqError(std::current_exception(), memoryHint);
    }
}

}  // namespace aq::detail
