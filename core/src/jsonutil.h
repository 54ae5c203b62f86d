#pragma once
// Small helpers around nlohmann/json and file reading, shared by the core readers.
#include "aq/error.h"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>

namespace aq::detail {

/// Reads a whole regular file. Devices, FIFOs and sockets are refused before anything is read (reading
/// /dev/zero never ends, opening a FIFO blocks until a writer comes), and so is a file larger than `maxBytes`;
/// exactly the size found when opening is read. Throws BadInput naming `what` and the path.
inline std::string readRegularFile(const std::filesystem::path& path, const char* what, uint64_t maxBytes)
{
    const std::string where = std::string(what) + " '" + path.string() + "'";
    // O_NONBLOCK: opening a FIFO must not wait for a writer; the descriptor is checked before any read.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        badInput("cannot read " + where + ": " + std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0)
        badInput("cannot read " + where + ": " + std::strerror(errno));
    if (S_ISDIR(st.st_mode))
        badInput(where + " is a folder, not a file");
    if (!S_ISREG(st.st_mode))
        badInput(where + " is not a regular file (a device, FIFO or socket); give a file");
    const auto size = static_cast<uint64_t>(st.st_size);
    if (size > maxBytes)
        badInput(where + " has " + std::to_string(size) + " bytes, more than the limit of " +
                 std::to_string(maxBytes) + " for this kind of file");
    std::string bytes(static_cast<size_t>(size), '\0');
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            badInput("cannot read " + where + ": " + std::strerror(errno));
        if (n == 0)
            break;  // shrank while being read: keep what is there
        done += static_cast<size_t>(n);
    }
    bytes.resize(done);
    return bytes;
}

/// Configuration files (config.json, tokenizer.json, vocab.json, merges.txt, ...) are at most this large.
constexpr uint64_t kMaxConfigFileBytes = uint64_t(1) << 30;

inline std::string readTextFile(const std::filesystem::path& path, const char* what)
{
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
        badInput(std::string("cannot read ") + what + " '" + path.string() + "': the file is missing or unreadable");
    return readRegularFile(path, what, kMaxConfigFileBytes);
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

/// "a number (3)", "an object", ...: a JSON value's type for messages, with the value itself when it is short.
inline std::string jsonTypeName(const nlohmann::json& v)
{
    const char* type = v.is_number() ? "a number" : v.is_boolean() ? "a boolean" : v.is_string() ? "a string"
                       : v.is_array() ? "an array" : v.is_object() ? "an object" : "null";
    if (v.is_primitive() && !v.is_null()) {
        const std::string text = v.dump();
        if (text.size() <= 40)
            return std::string(type) + " (" + text + ")";
    }
    return type;
}

/// Throws BadInput unless `j` (read from `file`, at `parent` when not empty) is a JSON object.
inline void requireObject(const nlohmann::json& j, const std::string& file, const std::string& parent = {})
{
    if (!j.is_object())
        badInput("'" + file + "': " + (parent.empty() ? std::string("the top level") : "'" + parent + "'") +
                 " must be a JSON object, not " + jsonTypeName(j));
}

/// The member `key` of the object `obj`, of type T (std::string, bool, an integer or a floating-point type), or
/// `fallback` when it is absent or null. Anything else is BadInput naming the file, the key and the expected type,
/// never the JSON library's type error.
template <typename T>
T jsonField(const nlohmann::json& obj, const char* key, T fallback, const std::string& file,
            const std::string& parent = {})
{
    requireObject(obj, file, parent);
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null())
        return fallback;
    auto refuse = [&](const char* expected) {
        badInput("'" + file + "': '" + (parent.empty() ? std::string() : parent + ".") + key + "' must be " + expected +
                 ", not " + jsonTypeName(*it));
    };
    if constexpr (std::is_same_v<T, std::string>) {
        if (!it->is_string())
            refuse("a string");
    } else if constexpr (std::is_same_v<T, bool>) {
        if (!it->is_boolean())
            refuse("true or false");
    } else if constexpr (std::is_integral_v<T>) {
        bool fits = it->is_number_integer();
        if (fits && it->is_number_unsigned())
            fits = it->template get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max());
        else if (fits)
            fits = it->template get<int64_t>() >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                   (std::is_unsigned_v<T> || it->template get<int64_t>() <= static_cast<int64_t>(std::numeric_limits<T>::max()));
        if (!fits)
            refuse(std::is_unsigned_v<T> ? "a non-negative whole number" : "a whole number in range");
    } else {
        static_assert(std::is_floating_point_v<T>, "jsonField reads strings, booleans and numbers");
        if (!it->is_number())
            refuse("a number");
    }
    return it->template get<T>();
}

}  // namespace aq::detail
