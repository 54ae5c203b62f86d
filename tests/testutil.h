#pragma once
// Helpers shared by the test executables.
#include <QtTest/QtTest>

#include <filesystem>
#include <string>

namespace aqtest {

/// Path inside ../shared/fixtures, or empty when the fixtures are not present.
inline std::string fixture(const std::string& rel)
{
    std::filesystem::path p = std::filesystem::path(AQ_FIXTURES_DIR) / rel;
    return std::filesystem::exists(p) ? p.string() : std::string();
}

inline std::string sourcePath(const std::string& rel) { return (std::filesystem::path(AQ_SOURCE_DIR) / rel).string(); }
inline std::string testData(const std::string& rel) { return (std::filesystem::path(AQ_TEST_DATA_DIR) / rel).string(); }

}  // namespace aqtest

/// Skips the current test when a fixture is missing (a fresh clone has no ../shared).
#define AQ_REQUIRE_FIXTURE(var, rel)                                                   \
    const std::string var = aqtest::fixture(rel);                                      \
    if (var.empty())                                                                   \
        QSKIP(qPrintable(QStringLiteral("fixture %1 not found under %2 (../shared/fixtures)") \
                             .arg(QString::fromStdString(rel), QStringLiteral(AQ_FIXTURES_DIR))))
