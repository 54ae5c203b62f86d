#include "progress.h"

#include <unistd.h>

#include <cstdio>

namespace aqcli {

ProgressBar::ProgressBar(std::string label) : m_label(std::move(label)), m_enabled(isatty(STDERR_FILENO) != 0) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(const aq::Progress& p, const std::string& detail)
{
    if (!m_enabled || p.total <= 0)
        return;
    const auto now = std::chrono::steady_clock::now();
    if (m_drawn && p.done < p.total && now - m_lastDraw < std::chrono::milliseconds(100))
        return;
    m_lastDraw = now;
    const int width = 30;
    const int filled = static_cast<int>(p.fraction() * width);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '.');
    char eta[32] = "ETA -";
    if (p.remainingSeconds >= 0)
        std::snprintf(eta, sizeof eta, "ETA %.0fs", p.remainingSeconds);
    std::fprintf(stderr, "\r%s [%s] %lld/%lld %s  %.0fs elapsed, %s\033[K", m_label.c_str(), bar.c_str(),
                 static_cast<long long>(p.done), static_cast<long long>(p.total), detail.c_str(), p.elapsedSeconds, eta);
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
