#pragma once
/// Data-parallel calibration: where this process stands in a group of ranks that calibrate disjoint shards of the
/// calibration windows together (spec §3.4's loop, gradients all-reduced every step).
///
/// The group is PyTorch's c10d: a TCPStore rendezvous at MASTER_ADDR:MASTER_PORT, then Gloo for CPU devices and NCCL
/// for CUDA devices (when the build has it). Launchers set the usual environment: RANK, WORLD_SIZE, LOCAL_RANK,
/// MASTER_ADDR, MASTER_PORT (torchrun, Slurm scripts, `affinequant quantize --nproc N`).
#include <string>
#include <vector>

namespace aq {

struct WorldSpec {
    int rank = 0;                        ///< 0 .. worldSize-1; rank 0 writes the run directory and reports progress
    int worldSize = 1;                   ///< 1 = a single process (no group is formed)
    int localRank = 0;                   ///< index among the ranks of this machine (picks the device)
    std::string masterAddr = "127.0.0.1";///< where rank 0 hosts the rendezvous store
    int masterPort = 29500;
    int timeoutSeconds = 900;            ///< a rank that does not answer within this long stops every rank
    bool distributed() const { return worldSize > 1; }
};

/// The group this process joins according to the environment: WORLD_SIZE (absent = one process), RANK, LOCAL_RANK
/// (default RANK), MASTER_ADDR (default 127.0.0.1), MASTER_PORT (default 29500), AQ_DIST_TIMEOUT (seconds, default
/// 900). Throws BadInput for malformed or inconsistent values, naming the variable.
WorldSpec worldFromEnvironment();

/// The device of this rank: `devices[localRank]` when a list is given; otherwise `device`, where a bare "cuda" means
/// cuda:<localRank> in a group. Throws BadInput when the list is shorter than the ranks of this machine.
std::string rankDevice(const WorldSpec& world, const std::string& device, const std::vector<std::string>& devices);

/// Splits "cuda:0,cuda:1" (or "cpu,cpu") into device names; throws BadInput on an empty entry.
std::vector<std::string> parseDeviceList(const std::string& list);

/// A TCP port on the loopback interface that nobody listens on now (the kernel's pick), for the rendezvous of local
/// ranks; 0 when none could be had.
int freeLoopbackPort();

/// The name of a signal that can end a rank ("SIGKILL"), or nullptr for one not named here.
const char* signalName(int sig);

/// Whether this build can form a group on `device` ("cpu": Gloo; "cuda[:i]": NCCL, or Gloo through host copies).
bool distributedBackendAvailable(const std::string& device, std::string* why = nullptr);

}  // namespace aq
