#pragma once
// The collectives of data-parallel calibration over c10d (internal: exposes torch). A default-constructed Collective
// is a group of one, whose operations leave their tensors as they are, so single-process code calls them freely.
#include "aq/distributed.h"

#include <torch/types.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace aq::detail {

class Collective {
public:
    Collective();
    /// Joins the group: rendezvous at world.masterAddr:masterPort (rank 0 hosts the store), then Gloo for CPU tensors
    /// and NCCL for CUDA tensors where the build has it (Gloo through host copies otherwise). Throws PeerFailure when
    /// the other ranks do not arrive within the timeout.
    /// Waiting for the others polls `cancel` (Cancelled when set) and gives up after the world's timeout, naming the
    /// ranks that did not arrive.
    Collective(const WorldSpec& world, const torch::Device& device, const std::atomic<bool>* cancel = nullptr);
    ~Collective();
    Collective(const Collective&) = delete;
    Collective& operator=(const Collective&) = delete;

    int rank() const { return m_world.rank; }
    int size() const { return m_world.worldSize; }
    bool distributed() const { return m_world.worldSize > 1; }
    bool isRoot() const { return m_world.rank == 0; }
    /// "gloo", "nccl", or "none" for a group of one.
    std::string backend() const;
    /// Seconds this rank has spent inside collectives (waiting for the others, and the transfers).
    double waitedSeconds() const;

    /// Element-wise sums over every rank, in place. The tensors travel as one buffer (one operation): float64 when every
    /// tensor is float64, float32 otherwise.
    void sum(const std::vector<torch::Tensor>& tensors, const char* what);
    /// Element-wise maximum over every rank, in place.
    void max(const torch::Tensor& t, const char* what);
    /// Rank 0's values into `t` on every rank (same shape and dtype everywhere).
    void broadcast(const torch::Tensor& t, const char* what);
    /// Whether `flag` is true on any rank (every rank gets the same answer).
    bool anyRank(bool flag, const char* what);
    /// Each rank's `value`, indexed by rank.
    std::vector<double> gather(double value, const char* what);
    /// Rank 0's text on every rank.
    std::string broadcastText(const std::string& text, const char* what);
    /// Leaves this rank's own failure in the rendezvous store, so that the other ranks' messages name it; never throws.
    void announceFailure(const std::string& why) noexcept;

private:
    struct Impl;
    void waitForEveryRank(const std::atomic<bool>* cancel);
    /// "ranks A and B share one GPU (UUID)" when two ranks' devices are one GPU, else empty.
    std::string ranksSharingAGpu(const torch::Device& device);
    void run(const std::vector<torch::Tensor>& tensors, int op, const char* what);
    [[noreturn]] void fail(const char* what, const std::string& detail);
    WorldSpec m_world;
    std::unique_ptr<Impl> m_impl;
};

/// Rows of the calibration windows that `rank` of `worldSize` holds, for a global batch of `batch` windows: every
/// step's batch is split into worldSize equal slices, slice r going to rank r (so local step s of every rank covers
/// global step s); windows past the last full batch are split into contiguous runs. Ascending global indices.
std::vector<int64_t> shardRows(int64_t nsamples, int64_t batch, int rank, int worldSize);

}  // namespace aq::detail
