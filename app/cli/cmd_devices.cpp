// The `devices` command: the compute devices this build can use and the CPU threads a run uses.
#include "commands.h"

#include "args.h"

#include "aq/device.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <vector>

namespace aqcli {

int cmdDevices(const std::vector<std::string>& argv)
{
    Args args(argv, {}, {"json"});
    const auto devices = aq::listDevices();
    if (args.flag("json")) {
        nlohmann::json j = nlohmann::json::array();
        const aq::CpuThreads t = aq::currentCpuThreads();
        for (const auto& d : devices) {
            j.push_back({{"id", d.id}, {"label", d.label}, {"total_bytes", d.totalBytes}, {"free_bytes", d.freeBytes}});
            if (aq::isCpuDevice(d.id))
                j.back()["threads"] = {{"cores", t.cores}, {"used", t.used}, {"limit", t.limit},
                                       {"limit_source", t.limitSource}, {"libtorch", t.intraOp}, {"blas", t.blas},
                                       {"blas_library", t.blasLibrary}};
        }
        std::cout << j.dump(2) << "\n";
    } else {
        for (const auto& d : devices)
        {
            std::printf("%-8s %s, %.1f GB free of %.1f GB\n", d.id.c_str(), d.label.c_str(), d.freeBytes / 1e9,
                        d.totalBytes / 1e9);
            if (aq::isCpuDevice(d.id))
                std::printf("         threads: %s\n", aq::describeCpuThreads(aq::currentCpuThreads()).c_str());
        }
        if (!aq::cudaAvailable())
            std::printf("(this build has no usable CUDA device)\n");
    }
    return 0;
}

}  // namespace aqcli
