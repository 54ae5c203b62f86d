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

/// Reads `runDir`/run.json. Nothing (and `error` set) when it is missing, unreadable or not JSON; keys a run lacks
/// are left out of the report.
std::optional<RunReport> makeRunReport(const QString& runDir, QString* error = nullptr);

}  // namespace aq::gui
