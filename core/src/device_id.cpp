// Device ids as the options spell them ("cpu", "cuda", "cuda:N"): the one reader of that spelling.
#include "aq/device.h"

#include "aq/error.h"

#include <cctype>
#include <stdexcept>
#include <string>

namespace aq {

DeviceId parseDeviceId(const std::string& id)
{
    if (id == "cpu")
        return {DeviceId::Kind::Cpu, 0};
    if (id.rfind("cuda", 0) == 0) {
        int64_t index = 0;
        if (id.size() > 4) {
            if (id[4] != ':' || id.size() == 5)
                badInput("device '" + id + "' is not valid: use cpu, cuda or cuda:N");
            for (size_t i = 5; i < id.size(); ++i)
                if (!std::isdigit(static_cast<unsigned char>(id[i])))
                    badInput("device '" + id + "' is not valid: use cpu, cuda or cuda:N");
            index = std::stoll(id.substr(5));
        }
        return {DeviceId::Kind::Cuda, index};
    }
    badInput("device '" + id + "' is not valid: use cpu, cuda or cuda:N");
}

bool isCpuDevice(const std::string& id) { return id == "cpu"; }

bool isCudaDevice(const std::string& id) { return id.rfind("cuda", 0) == 0; }

bool sameDevice(const std::string& a, const std::string& b)
{
    try {
        const DeviceId x = parseDeviceId(a), y = parseDeviceId(b);
        return x.kind == y.kind && x.index == y.index;
    } catch (const Error&) {
        return false;
    } catch (const std::out_of_range&) {  // a device number beyond int64
        return false;
    }
}

}  // namespace aq
