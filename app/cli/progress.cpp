#include "progress.h"

#include <unistd.h>

#include <cstdio>

namespace aqcli {

ProgressBar::ProgressBar(std::string label)
    : m_label(std::move(label)), m_enabled(isatty(STDERR_FILENO) != 0), m_start(std::chrono::steady_clock::now())
{
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(int64_t done, int64_t total, const std::string& detail)
{
    if (!m_enabled || total <= 0)
        return;
    const auto now = std::chrono::steady_clock::now();
    if (m_drawn && done < total && now - m_lastDraw < std::chrono::milliseconds(100))
        return;
    m_lastDraw = now;
    const double frac = static_cast<double>(done) / static_cast<double>(total);
    const int width = 30;
    const int filled = static_cast<int>(frac * width);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '.');
    const double elapsed = std::chrono::duration<double>(now - m_start).count();
    const double eta = done > 0 ? elapsed * static_cast<double>(total - done) / static_cast<double>(done) : 0;
    std::fprintf(stderr, "\r%s [%s] %lld/%lld %s  %.0fs elapsed, ETA %.0fs\033[K", m_label.c_str(), bar.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total), detail.c_str(), elapsed, eta);
    std::fflush(stderr);
    m_drawn = true;
}

void ProgressBar::finish()
{
    if (m_enabled && m_drawn) {
        std::fprintf(stderr, "\n");
        m_drawn = false;
    }
}

}  // namespace aqcli
