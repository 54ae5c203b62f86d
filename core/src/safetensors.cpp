// Reading and writing safetensors files: a validated, memory-mapped reader and a streamed, atomic writer.
#include "safetensors.h"

#include "aq/error.h"
#include "jsonutil.h"
#include "publish.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace aq::detail {

namespace {
constexpr uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;  // the format's own limit

struct DtypeInfo {
    const char* name;
    torch::ScalarType type;
    size_t size;
};
const DtypeInfo kDtypes[] = {
    {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2}, {"BF16", torch::kBFloat16, 2},
    {"F64", torch::kFloat64, 8}, {"I64", torch::kInt64, 8},   {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},   {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};
const DtypeInfo* findDtype(const std::string& name)
{
    for (const auto& d : kDtypes)
        if (name == d.name)
            return &d;
    return nullptr;
}
}  // namespace

struct MappedFile {
    void* data = nullptr;
    uint64_t size = 0;
    ~MappedFile()
    {
        if (data && size)
            munmap(data, size);
    }
};

torch::ScalarType scalarTypeFromSafetensors(const std::string& dtype, const std::string& origin)
{
    if (const DtypeInfo* d = findDtype(dtype))
        return d->type;
    badInput("'" + origin + "': unknown tensor dtype '" + dtype + "' (supported: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)");
}

size_t safetensorsElementSize(const std::string& dtype)
{
    const DtypeInfo* d = findDtype(dtype);
    return d ? d->size : 0;
}

std::string safetensorsDtypeName(torch::ScalarType type)
{
    for (const auto& d : kDtypes)
        if (d.type == type)
            return d.name;
    throw Error(ErrorCode::Internal, std::string("no safetensors dtype for ") + c10::toString(type));
}

namespace {

/// Opens `path`, checks that it is a regular file long enough to hold the header length, and maps it read-only, whole.
std::shared_ptr<MappedFile> mapWeightsFile(const std::string& path)
{
    // O_NONBLOCK so that a FIFO in place of a shard fails below instead of blocking in open() forever.
    int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        badInput("cannot open weights file '" + path + "': " + std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        ::close(fd);
        badInput("cannot stat weights file '" + path + "'");
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        badInput("weights file '" + path + "' is not a regular file (a folder, device, FIFO or socket)");
    }
    auto file = std::make_shared<MappedFile>();
    file->size = static_cast<uint64_t>(st.st_size);
    if (file->size < 8) {
        ::close(fd);
        badInput("'" + path + "' is truncated: " + std::to_string(file->size) +
                 " bytes, too short for a safetensors header; re-download or re-export the model");
    }
    file->data = mmap(nullptr, file->size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (file->data == MAP_FAILED) {
        file->data = nullptr;
        badInput("cannot memory-map '" + path + "': " + std::strerror(errno));
    }
    return file;
}

/// The header length of the first 8 bytes (little-endian), within the format's limit and the file.
uint64_t headerLength(const MappedFile& file, const std::string& path)
{
    const auto* bytes = static_cast<const unsigned char*>(file.data);
    uint64_t headerLen = 0;
    for (int i = 7; i >= 0; --i)
        headerLen = (headerLen << 8) | bytes[i];
    if (headerLen > kMaxHeaderBytes || headerLen > file.size - 8)
        badInput("'" + path + "' is corrupt: its header claims " + std::to_string(headerLen) +
                 " bytes but the file has " + std::to_string(file.size) +
                 " bytes (truncated or not a safetensors file)");
    return headerLen;
}

/// The header's JSON, which must be an object.
nlohmann::json parseHeader(const MappedFile& file, uint64_t headerLen, const std::string& path)
{
    const auto* bytes = static_cast<const unsigned char*>(file.data);
    nlohmann::json header =
        parseJson(std::string(reinterpret_cast<const char*>(bytes + 8), headerLen), path + " (header)");
    if (!header.is_object())
        badInput("'" + path + "': the safetensors header is not a JSON object");
    return header;
}

/// The string values of the header's __metadata__ object (anything else there is ignored).
void readMetadata(const nlohmann::json& m, std::map<std::string, std::string>& metadata)
{
    if (m.is_object())
        for (auto it = m.begin(); it != m.end(); ++it)
            if (it->is_string())
                metadata[it.key()] = it->get<std::string>();
}

/// The header entry of tensor `name`: a known dtype, a shape of sane non-negative dimensions, and data offsets inside
/// the data section of `dataSize` bytes that span exactly the bytes the shape and dtype need.
SafetensorsEntry readEntry(const std::string& name, const nlohmann::json& e, uint64_t dataSize, const std::string& path)
{
    const std::string where = "'" + path + "': tensor '" + name + "'";
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets") ||
        !e["dtype"].is_string() || !e["shape"].is_array() || !e["data_offsets"].is_array() ||
        e["data_offsets"].size() != 2)
        badInput(where + " has a malformed header entry (needs dtype, shape and two data_offsets)");
    SafetensorsEntry entry;
    entry.dtype = e["dtype"].get<std::string>();
    const DtypeInfo* dt = findDtype(entry.dtype);
    if (!dt)
        badInput(where + " has unknown dtype '" + entry.dtype +
                 "' (supported: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)");
    uint64_t numel = 1;
    for (const auto& s : e["shape"]) {
        if (!s.is_number_unsigned())
            badInput(where + " has a negative or non-integer dimension");
        uint64_t d = s.get<uint64_t>();
        if (d != 0 && numel > (uint64_t(1) << 50) / d)
            badInput(where + " has an absurd shape");
        numel *= d;
        entry.shape.push_back(static_cast<int64_t>(d));
    }
    const auto& off = e["data_offsets"];
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned())
        badInput(where + " has invalid data_offsets");
    entry.begin = off[0].get<uint64_t>();
    entry.end = off[1].get<uint64_t>();
    if (entry.begin > entry.end || entry.end > dataSize)
        badInput(where + " has data offsets [" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) +
                 ") past the end of the data section (" + std::to_string(dataSize) +
                 " bytes): the file is truncated or corrupt");
    if (entry.end - entry.begin != numel * dt->size)
        badInput(where + " occupies " + std::to_string(entry.end - entry.begin) +
                 " bytes but its shape and dtype need " + std::to_string(numel * dt->size));
    return entry;
}

/// The format requires the tensors to tile the data section exactly: no overlap, no gap, nothing after the last.
/// Checking that is what catches a header length that is off by a byte or two (the header's JSON still parses
/// when it ends in padding), which would otherwise read every weight shifted by that many bytes.
void checkTiling(std::vector<std::pair<uint64_t, uint64_t>> ranges, uint64_t dataSize, uint64_t headerLen,
                 const std::string& path)
{
    std::sort(ranges.begin(), ranges.end());
    uint64_t covered = 0;
    for (const auto& [begin, end] : ranges) {
        if (begin < covered)
            badInput("'" + path + "' is corrupt: two tensors overlap in the data section (bytes " +
                     std::to_string(begin) + "..." + std::to_string(covered) + ")");
        if (begin > covered)
            badInput("'" + path + "' is corrupt: bytes " + std::to_string(covered) + "..." + std::to_string(begin) +
                     " of the data section belong to no tensor (the header length or the data offsets are wrong)");
        covered = end;
    }
    if (covered != dataSize)
        badInput("'" + path + "' is corrupt: its tensors cover " + std::to_string(covered) +
                 " bytes but the data section after the " + std::to_string(headerLen) + "-byte header has " +
                 std::to_string(dataSize) +
                 " (the header length is wrong, or the file is truncated or has bytes appended)");
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : m_path(path)
{
    m_file = mapWeightsFile(path);
    const uint64_t headerLen = headerLength(*m_file, path);
    m_dataOffset = 8 + headerLen;
    const uint64_t dataSize = m_file->size - m_dataOffset;
    const nlohmann::json header = parseHeader(*m_file, headerLen, path);
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (auto it = header.begin(); it != header.end(); ++it) {
        if (it.key() == "__metadata__") {
            readMetadata(*it, m_metadata);
            continue;
        }
        SafetensorsEntry entry = readEntry(it.key(), *it, dataSize, path);
        ranges.emplace_back(entry.begin, entry.end);
        m_entries.emplace(it.key(), std::move(entry));
    }
    checkTiling(std::move(ranges), dataSize, headerLen, path);
}

SafetensorsFile::~SafetensorsFile() = default;

uint64_t SafetensorsFile::fileSize() const { return m_file->size; }

torch::Tensor SafetensorsFile::load(const std::string& name) const
{
    auto it = m_entries.find(name);
    if (it == m_entries.end())
        badInput("tensor '" + name + "' is not in '" + m_path + "'");
    const SafetensorsEntry& e = it->second;
    const auto type = scalarTypeFromSafetensors(e.dtype, m_path);
    torch::Tensor result;
    try {
        result = torch::empty(e.shape, torch::TensorOptions().dtype(type));
    } catch (const std::exception&) {
        // Say which tensor and how much: the usual advice about samples or sequence length does not apply to
        // reading weights.
        char size[32];
        std::snprintf(size, sizeof size, "%.1f GB", static_cast<double>(e.end - e.begin) / 1e9);
        throw Error(ErrorCode::OutOfMemory, "not enough host memory to read tensor '" + name + "' of '" + m_path +
                                                "' (" + size + "); this model's weights need a machine with more memory");
    }
    const auto* src = static_cast<const char*>(m_file->data) + m_dataOffset + e.begin;
    // Element data are little-endian, as on every platform this builds for; offsets need not be aligned.
    if (e.end > e.begin)  // an empty tensor has no storage: memcpy must not see its null pointer
        std::memcpy(result.data_ptr(), src, e.end - e.begin);
    // The copy is what the caller keeps: drop the mapped pages so that reading a large checkpoint block by block does
    // not leave the whole file resident in this process (they are read again from the page cache if needed).
    const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const uintptr_t first = reinterpret_cast<uintptr_t>(src) & ~(page - 1);
    const uintptr_t last = reinterpret_cast<uintptr_t>(src) + (e.end - e.begin);
    if (last > first)
        madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
    return result;
}

void writeSafetensorsStreamed(const std::string& path, const std::vector<TensorSource>& tensors,
                              const std::map<std::string, std::string>& metadata)
{
    nlohmann::json header = nlohmann::json::object();
    if (!metadata.empty())
        header["__metadata__"] = metadata;
    uint64_t offset = 0;
    std::vector<uint64_t> sizes;
    for (const auto& t : tensors) {
        uint64_t numel = 1;
        for (int64_t d : t.shape)
            numel *= static_cast<uint64_t>(d);
        const uint64_t nbytes = numel * static_cast<uint64_t>(c10::elementSize(t.type));
        header[t.name] = {{"dtype", safetensorsDtypeName(t.type)}, {"shape", t.shape}, {"data_offsets", {offset, offset + nbytes}}};
        offset += nbytes;
        sizes.push_back(nbytes);
    }
    std::string h = header.dump();
    while ((8 + h.size()) % 8 != 0)
        h.push_back(' ');
    const std::string tmp = path + ".partial";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out)
            badInput("cannot write '" + tmp + "': " + std::strerror(errno));
        auto fail = [&](const std::string& why) {
            out.close();
            std::remove(tmp.c_str());
            badInput(why);
        };
        uint64_t n = h.size();
        unsigned char len[8];
        for (int i = 0; i < 8; ++i)
            len[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
        out.write(reinterpret_cast<const char*>(len), 8);
        out.write(h.data(), static_cast<std::streamsize>(h.size()));
        for (size_t i = 0; i < tensors.size(); ++i) {
            torch::Tensor c;
            try {
                c = tensors[i].load().detach().to(torch::kCPU).contiguous();
            } catch (...) {
                out.close();
                std::remove(tmp.c_str());
                throw;
            }
            if (c.scalar_type() != tensors[i].type || c.sizes().vec() != tensors[i].shape)
                fail("internal error writing '" + path + "': tensor '" + tensors[i].name + "' changed dtype or shape");
            out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(sizes[i]));
            if (!out)
                fail("writing '" + tmp + "' failed (disk full or read-only?)");
        }
        out.flush();
        if (!out)
            fail("writing '" + tmp + "' failed (disk full or read-only?)");
    }
    publishFile(tmp, path, "cannot move '" + tmp + "' to '" + path + "'");
}

void writeSafetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata)
{
    std::vector<TensorSource> sources;
    for (const auto& [name, t] : tensors)
        sources.push_back({name, t.scalar_type(), t.sizes().vec(), [t] { return t; }});
    writeSafetensorsStreamed(path, sources, metadata);
}

}  // namespace aq::detail
