#include "aq/evaluate.h"
#include "aq/error.h"
#include "aq/tokenizer.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace aq {

std::string readTextForModel(const std::string& path)
{
    namespace fs = std::filesystem;
    if (!fs::exists(path))
        badInput("text file '" + path + "' does not exist");
    if (fs::is_directory(path))
        badInput("'" + path + "' is a folder; give a UTF-8 text file");
    std::ifstream in(path, std::ios::binary);
    if (!in)
        badInput("cannot read text file '" + path + "'");
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    if (text.find_first_not_of(" \t\r\n") == std::string::npos)
        badInput("text file '" + path + "' is empty");
    checkUtf8(text, path);
    return text;
}

}  // namespace aq
