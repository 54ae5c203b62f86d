#pragma once
// A one-line progress bar on standard error, drawn only when standard error is a terminal. It draws what the engine
// reports (aq::Progress: done, total, elapsed, time left) and computes nothing of its own.
#include "aq/progress.h"

#include <chrono>
#include <cstdint>
#include <string>

namespace aqcli {

class ProgressBar {
public:
    explicit ProgressBar(std::string label);
    ~ProgressBar();
    /// Redraws at most every 100 ms (and always for the final unit); nothing while the total is unknown.
    void update(const aq::Progress& p, const std::string& detail);
    void finish();

private:
    std::string m_label;
    bool m_enabled;
    bool m_drawn = false;
    std::chrono::steady_clock::time_point m_lastDraw;
};

}  // namespace aqcli
