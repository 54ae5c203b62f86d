#pragma once
// A finished run's summary for people and for spreadsheets: where it came from, the perplexities, every setting of
// the calibration and the loss of each block, read from the run folder's run.json.
#include <QString>

#include <optional>

namespace aq::gui {

struct RunReport {
    QString markdown;  ///< headings and tables
    QString csv;       ///< "section,name,value" lines: run, perplexity, configuration, then one section per block
};

/// Reads `runDir`/run.json (through the engine's reader). Nothing (and `error` set, the engine's message) when it is
/// missing, unreadable, damaged or not a finished run.
std::optional<RunReport> makeRunReport(const QString& runDir, QString* error = nullptr);

}  // namespace aq::gui
