#pragma once
// Small helpers around nlohmann/json and file reading, shared by the core readers.
#include "aq/error.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace aq::detail {

inline std::string readTextFile(const std::filesystem::path& path, const char* what)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        badInput(std::string("cannot read ") + what + " '" + path.string() + "': the file is missing or unreadable");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline nlohmann::json parseJson(const std::string& text, const std::string& origin)
{
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        badInput("'" + origin + "' is not valid JSON (" + e.what() + "); the file is corrupt or truncated");
    }
}

inline nlohmann::json readJsonFile(const std::filesystem::path& path, const char* what)
{
    return parseJson(readTextFile(path, what), path.string());
}

}  // namespace aq::detail
