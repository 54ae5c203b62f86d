#include "aq/evaluate.h"
#include "aq/error.h"
#include "aq/tokenizer.h"
#include "jsonutil.h"

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
    // Only regular files, size checked first: `--text /dev/zero` or a FIFO must not read forever or block.
    constexpr uint64_t kMaxTextBytes = uint64_t(16) << 30;
    std::string text = detail::readRegularFile(path, "text file", kMaxTextBytes);
    if (text.find_first_not_of(" \t\r\n") == std::string::npos)
        badInput("text file '" + path + "' is empty");
    checkUtf8(text, path);
    return text;
}

}  // namespace aq
