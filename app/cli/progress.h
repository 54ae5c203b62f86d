#pragma once
// A one-line progress bar on standard error, drawn only when standard error is a terminal.
#include <chrono>
#include <cstdint>
#include <string>

namespace aqcli {

class ProgressBar {
public:
    explicit ProgressBar(std::string label);
    ~ProgressBar();
    /// Redraws at most every 100 ms (and always for the final step).
    void update(int64_t done, int64_t total, const std::string& detail);
    void finish();

private:
    std::string m_label;
    bool m_enabled;
    bool m_drawn = false;
    std::chrono::steady_clock::time_point m_start;
    std::chrono::steady_clock::time_point m_lastDraw;
};

}  // namespace aqcli
