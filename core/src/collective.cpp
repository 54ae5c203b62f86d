// Data-parallel collectives over c10d: the rendezvous, the process group, and what a failed peer looks like.
#include "collective.h"

#include "aq/device.h"
#include "aq/error.h"
#include "torch_util.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#include <torch/version.h>

// LibTorch's process-group headers compile their classes only under its own switches, which its CMake target
// normally defines; ours (set where the headers were found) imply them.
#if defined(AQ_C10D_GLOO) && !defined(USE_C10D_GLOO)
#define USE_C10D_GLOO
#endif
#if defined(AQ_C10D_NCCL) && !defined(USE_C10D_NCCL)
#define USE_C10D_NCCL
#endif
#if defined(AQ_C10D_GLOO)
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if defined(AQ_C10D_NCCL)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace aq {

namespace {

int envInt(const char* name, int fallback, int lo, int hi)
{
    const char* v = std::getenv(name);
    if (!v || !*v)
        return fallback;
    char* end = nullptr;
    errno = 0;
    const long n = std::strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < lo || n > hi)
        badInput(std::string("the environment variable ") + name + " must be a whole number from " + std::to_string(lo) +
                 " to " + std::to_string(hi) + ", got '" + v + "'");
    return static_cast<int>(n);
}

}  // namespace

WorldSpec worldFromEnvironment()
{
    WorldSpec w;
    w.worldSize = envInt("WORLD_SIZE", 1, 1, 65536);
    w.rank = envInt("RANK", 0, 0, 65535);
    w.localRank = envInt("LOCAL_RANK", w.rank, 0, 65535);
    w.masterPort = envInt("MASTER_PORT", 29500, 1, 65535);
    w.timeoutSeconds = envInt("AQ_DIST_TIMEOUT", w.timeoutSeconds, 1, 7 * 24 * 3600);
    if (const char* a = std::getenv("MASTER_ADDR"); a && *a)
        w.masterAddr = a;
    if (w.rank >= w.worldSize)
        badInput("RANK=" + std::to_string(w.rank) + " is not below WORLD_SIZE=" + std::to_string(w.worldSize) +
                 "; a launcher gives every process a rank from 0 to WORLD_SIZE-1");
    return w;
}

std::vector<std::string> parseDeviceList(const std::string& list)
{
    std::vector<std::string> out;
    std::string item;
    std::istringstream in(list);
    while (std::getline(in, item, ',')) {
        if (item.empty())
            badInput("--devices has an empty entry in '" + list + "'; list devices like cuda:0,cuda:1");
        out.push_back(item);
    }
    if (out.empty())
        badInput("--devices needs at least one device, like cuda:0,cuda:1");
    return out;
}

std::string rankDevice(const WorldSpec& world, const std::string& device, const std::vector<std::string>& devices)
{
    if (!devices.empty()) {
        if (world.localRank >= static_cast<int>(devices.size()))
            badInput("local rank " + std::to_string(world.localRank) + " has no device: --devices lists " +
                     std::to_string(devices.size()) + "; list one device per rank of this machine");
        return devices[static_cast<size_t>(world.localRank)];
    }
    if (world.distributed() && device == "cuda")
        return "cuda:" + std::to_string(world.localRank);
    return device;
}

int freeLoopbackPort()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    ::close(fd);
    return port;
}

const char* signalName(int sig)
{
    switch (sig) {
    case SIGHUP: return "SIGHUP";
    case SIGINT: return "SIGINT";
    case SIGQUIT: return "SIGQUIT";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGKILL: return "SIGKILL";
    case SIGSEGV: return "SIGSEGV";
    case SIGPIPE: return "SIGPIPE";
    case SIGTERM: return "SIGTERM";
    default: return nullptr;
    }
}

bool distributedBackendAvailable(const std::string& device, std::string* why)
{
    const bool cuda = isCudaDevice(device);
#if defined(AQ_C10D_NCCL)
    if (cuda)
        return true;
#endif
#if defined(AQ_C10D_GLOO)
    (void)cuda;
    return true;
#else
    if (why)
        *why = cuda ? "this build's LibTorch has neither NCCL nor Gloo" : "this build's LibTorch has no Gloo backend";
    return false;
#endif
}

namespace detail {

namespace {

enum Op { kSum = 0, kMax = 1, kBroadcast = 2 };

bool isLoopback(const std::string& addr)
{
    return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

std::string firstLine(const std::string& s)
{
    const auto n = s.find('\n');
    std::string l = n == std::string::npos ? s : s.substr(0, n);
    return l.size() > 300 ? l.substr(0, 300) + "..." : l;
}

}  // namespace

struct Collective::Impl {
    c10::intrusive_ptr<c10d::TCPStore> store;
#if defined(AQ_C10D_GLOO)
    c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#endif
#if defined(AQ_C10D_NCCL)
    c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
    torch::Device device = torch::kCPU;
    bool onDevice = false;   ///< the backend takes the tensors where they are (NCCL); otherwise through host copies
    uint64_t sequence = 0;   ///< collectives issued so far (every rank issues the same ones)
    double waited = 0;       ///< seconds inside collectives
    // A beat in the store every second from a thread of its own: a rank that is killed or frozen stops beating,
    // which names it when a collective fails (a timeout alone does not say who is missing).
    std::thread heart;
    std::mutex heartMutex;
    std::condition_variable heartWake;
    bool heartStop = false;

    void startHeartbeat(int rank)
    {
        heart = std::thread([this, rank] {
            uint64_t beat = 0;
            std::unique_lock<std::mutex> lock(heartMutex);
            while (!heartStop) {
                const std::string v = std::to_string(++beat);
                lock.unlock();
                try {
                    store->set("aq/beat/" + std::to_string(rank), std::vector<uint8_t>(v.begin(), v.end()));
                } catch (...) {
                    // the store is gone (rank 0 ended): the collectives report it
                }
                lock.lock();
                heartWake.wait_for(lock, std::chrono::seconds(1), [this] { return heartStop; });
            }
        });
    }
    ~Impl()
    {
        {
            std::lock_guard<std::mutex> lock(heartMutex);
            heartStop = true;
        }
        heartWake.notify_all();
        if (heart.joinable())
            heart.join();
    }
};

Collective::Collective() : m_impl(std::make_unique<Impl>()) {}

Collective::Collective(const WorldSpec& world, const torch::Device& device, const std::atomic<bool>* cancel)
    : m_world(world), m_impl(std::make_unique<Impl>())
{
    m_impl->device = device;
    if (!distributed())
        return;
    std::string why;
    if (!distributedBackendAvailable(device.str(), &why))
        badInput("cannot calibrate on several ranks: " + why);
    const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(world.timeoutSeconds) * 1000);
    try {
        c10d::TCPStoreOptions so;
        so.port = static_cast<uint16_t>(world.masterPort);
        // torchrun's agent may host the store itself at MASTER_PORT; then every rank is a client.
        const char* agentStore = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
        so.isServer = world.rank == 0 && !(agentStore && std::string(agentStore) == "True");
        so.numWorkers = static_cast<size_t>(world.worldSize);
        so.waitWorkers = false;  // the arrivals are counted below, where a cancel can interrupt the wait
        so.timeout = timeout;
        m_impl->store = c10::make_intrusive<c10d::TCPStore>(world.masterAddr, so);
    } catch (const std::exception& e) {
        badInput("rank " + std::to_string(world.rank) + " could not join the group at " + world.masterAddr + ":" +
                 std::to_string(world.masterPort) + " within " + std::to_string(world.timeoutSeconds) + " s (" +
                 firstLine(e.what()) + "); check MASTER_ADDR/MASTER_PORT (rank 0 listens there), that every rank was " +
                 "started with the same WORLD_SIZE, and that the port is free");
    }
    waitForEveryRank(cancel);
    m_impl->startHeartbeat(world.rank);
    try {
        // The backend's own keys under a prefix of their own (a launcher's store holds other keys too).
        const auto groupStore = c10::make_intrusive<c10d::PrefixStore>("aq/group/", m_impl->store);
        // AQ_DIST_BACKEND=gloo keeps CUDA ranks on Gloo through host copies (a machine whose NCCL does not work).
        const char* forced = std::getenv("AQ_DIST_BACKEND");
        const std::string backendChoice = forced ? forced : "";
        if (!backendChoice.empty() && backendChoice != "gloo" && backendChoice != "nccl")
            badInput("AQ_DIST_BACKEND must be gloo or nccl, got '" + backendChoice + "'");
        // NCCL refuses two ranks on one GPU ("invalid usage"), so ranks that share one go through Gloo.
        const std::string shared = device.is_cuda() && backendChoice != "gloo" ? ranksSharingAGpu(device) : "";
#if defined(AQ_C10D_GLOO)
        constexpr bool hasGloo = true;
#else
        constexpr bool hasGloo = false;
#endif
        if (!shared.empty() && (backendChoice == "nccl" || !hasGloo))
            badInput(shared + ", which NCCL refuses: give each rank a GPU of its own" +
                     (hasGloo ? ", or leave AQ_DIST_BACKEND unset to go through Gloo" : ""));
#if defined(AQ_C10D_NCCL)
        if (device.is_cuda() && backendChoice != "gloo" && shared.empty()) {
            auto o = c10d::ProcessGroupNCCL::Options::create();
            o->timeout = timeout;
            m_impl->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(groupStore, world.rank, world.worldSize, o);
            m_impl->onDevice = true;
        }
#endif
#if !defined(AQ_C10D_NCCL)
        if (backendChoice == "nccl")
            badInput("AQ_DIST_BACKEND=nccl, but this build has no NCCL (a CUDA build against LibTorch 2.x finds it)");
#endif
#if defined(AQ_C10D_GLOO)
        if (!m_impl->onDevice) {
            auto o = c10d::ProcessGroupGloo::Options::create(timeout);
            if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
                o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
            else if (isLoopback(world.masterAddr))
                o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
            else
                o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
            m_impl->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(groupStore, world.rank, world.worldSize, o);
        }
#endif
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        fail("forming the group", e.what());
    }
}

Collective::~Collective() = default;

std::string Collective::ranksSharingAGpu(const torch::Device& device)
{
    const std::string mine = detail::deviceIdentity(device);
    const std::string me = "aq/gpu/" + std::to_string(rank());
    m_impl->store->set(me, std::vector<uint8_t>(mine.begin(), mine.end()));
    std::vector<std::string> ids(static_cast<size_t>(size()));
    for (int r = 0; r < size(); ++r) {
        const auto v = m_impl->store->get("aq/gpu/" + std::to_string(r));
        ids[static_cast<size_t>(r)] = std::string(v.begin(), v.end());
    }
    for (int a = 0; a < size(); ++a)
        for (int b = a + 1; b < size(); ++b)
            if (!ids[static_cast<size_t>(a)].empty() && ids[static_cast<size_t>(a)] == ids[static_cast<size_t>(b)])
                return "ranks " + std::to_string(a) + " and " + std::to_string(b) + " share one GPU (" +
                       ids[static_cast<size_t>(a)] + ")";
    return {};
}

void Collective::waitForEveryRank(const std::atomic<bool>* cancel)
{
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(m_world.timeoutSeconds);
    try {
        m_impl->store->set("aq/arrived/" + std::to_string(rank()), std::vector<uint8_t>{1});
        m_impl->store->add("aq/arrivals", 1);
        while (m_impl->store->add("aq/arrivals", 0) < size()) {
            if (cancel && cancel->load())
                throw Error(ErrorCode::Cancelled, "calibration cancelled while waiting for the other ranks");
            if (std::chrono::steady_clock::now() > deadline) {
                std::string missing;
                for (int r = 0; r < size(); ++r)
                    if (!m_impl->store->check({"aq/arrived/" + std::to_string(r)}))
                        missing += (missing.empty() ? "" : ", ") + std::to_string(r);
                badInput("rank " + std::to_string(rank()) + ": rank(s) " + missing + " did not join the group at " +
                         m_world.masterAddr + ":" + std::to_string(m_world.masterPort) + " within " +
                         std::to_string(m_world.timeoutSeconds) +
                         " s; check that every rank was started (with the same WORLD_SIZE and MASTER_PORT) and is "
                         "not failing before it starts");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        fail("waiting for the other ranks to join", e.what());
    }
}

double Collective::waitedSeconds() const { return m_impl->waited; }

std::string Collective::backend() const
{
    if (!distributed())
        return "none";
    return m_impl->onDevice ? "nccl" : "gloo";
}

void Collective::run(const std::vector<torch::Tensor>& tensors, int op, const char* what)
{
    if (!distributed() || tensors.empty())
        return;
    torch::NoGradGuard ng;
    ++m_impl->sequence;
    const auto t0 = std::chrono::steady_clock::now();
    // One flat buffer for the whole list, on the backend's side of the bus: the tensor's own type for broadcasts,
    // float64 for sums of float64 values, float32 otherwise (gradients, losses, statistics).
    const torch::Device commDevice = m_impl->onDevice ? m_impl->device : torch::Device(torch::kCPU);
    torch::Tensor flat;
    if (op == kBroadcast) {
        flat = tensors[0].detach().reshape({-1}).to(commDevice).clone();
    } else {
        const bool f64 = std::all_of(tensors.begin(), tensors.end(),
                                     [](const torch::Tensor& t) { return t.scalar_type() == torch::kFloat64; });
        std::vector<torch::Tensor> parts;
        for (const auto& t : tensors)
            parts.push_back(t.detach().reshape({-1}).to(commDevice, f64 ? torch::kFloat64 : torch::kFloat32));
        flat = torch::cat(parts);
    }
    try {
        // Where this rank is, for the message another rank gives when this one stops answering.
        const std::string seq = std::to_string(m_impl->sequence);
        m_impl->store->set("aq/seq/" + std::to_string(rank()), std::vector<uint8_t>(seq.begin(), seq.end()));
        std::vector<at::Tensor> io{flat};
        c10::intrusive_ptr<c10d::Work> work;
        auto issue = [&](auto& pg) {
            if (op == kBroadcast) {
                c10d::BroadcastOptions o;
                o.rootRank = 0;
                work = pg->broadcast(io, o);
            } else {
                c10d::AllreduceOptions o;
                o.reduceOp = op == kSum ? c10d::ReduceOp::SUM : c10d::ReduceOp::MAX;
                work = pg->allreduce(io, o);
            }
        };
#if defined(AQ_C10D_NCCL)
        if (m_impl->nccl)
            issue(m_impl->nccl);
#endif
#if defined(AQ_C10D_GLOO)
        if (m_impl->gloo)
            issue(m_impl->gloo);
#endif
        if (!work)
            throw std::runtime_error("no backend");
        work->wait();
    } catch (const std::exception& e) {
        fail(what, e.what());
    }
    int64_t offset = 0;
    for (const auto& t : tensors) {
        t.copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
        offset += t.numel();
    }
    m_impl->waited += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void Collective::fail(const char* what, const std::string& detail)
{
    std::ostringstream msg;
    msg << "rank " << rank() << " of " << size() << " lost the group while " << what << ": ";
    // Ask the store (hosted by rank 0) what became of the others: a failure a rank announced, or a rank that stopped
    // beating (killed, frozen) or fell behind in the collectives.
    std::vector<int> silent;
    bool storeGone = false;
    try {
        auto number = [&](const std::string& key) {
            const auto v = m_impl->store->get(key);
            return std::stoull(std::string(v.begin(), v.end()));
        };
        m_impl->store->setTimeout(std::chrono::seconds(3));
        std::vector<uint64_t> beats(static_cast<size_t>(size()), 0);
        for (int r = 0; r < size(); ++r)
            if (r != rank())
                beats[static_cast<size_t>(r)] = number("aq/beat/" + std::to_string(r));
        std::this_thread::sleep_for(std::chrono::milliseconds(2500));
        for (int r = 0; r < size(); ++r) {
            if (r == rank())
                continue;
            const std::string failed = "aq/failed/" + std::to_string(r);
            if (m_impl->store->check({failed})) {
                const auto v = m_impl->store->get(failed);
                msg << "rank " << r << " failed: " << std::string(v.begin(), v.end());
                throw Error(ErrorCode::PeerFailure, msg.str());
            }
            if (number("aq/beat/" + std::to_string(r)) == beats[static_cast<size_t>(r)] ||
                number("aq/seq/" + std::to_string(r)) < m_impl->sequence)
                silent.push_back(r);
        }
    } catch (const Error&) {
        throw;
    } catch (const std::exception&) {
        storeGone = true;
    }
    if (storeGone && rank() != 0) {
        msg << "rank 0 (which hosts the group's rendezvous) stopped: it died, was killed, or failed (its own output "
               "says why)";
    } else if (!silent.empty()) {
        for (size_t i = 0; i < silent.size(); ++i)
            msg << (i ? ", " : "rank ") << silent[i];
        msg << " stopped answering: it died, was frozen or hung for more than " << m_world.timeoutSeconds
            << " s (AQ_DIST_TIMEOUT / --dist-timeout), or ran out of memory (its own output says which)";
    } else {
        msg << "another rank stopped (died, hung for more than " << m_world.timeoutSeconds
            << " s, or failed; its own output says which)";
    }
    msg << " [" << firstLine(detail) << "]. Finished blocks are kept: continue with --resume, with any number of ranks";
    throw Error(ErrorCode::PeerFailure, msg.str());
}

void Collective::announceFailure(const std::string& why) noexcept
{
    if (!distributed() || !m_impl->store)
        return;
    try {
        m_impl->store->set("aq/failed/" + std::to_string(rank()), std::vector<uint8_t>(why.begin(), why.end()));
    } catch (...) {
    }
}

void Collective::sum(const std::vector<torch::Tensor>& tensors, const char* what) { run(tensors, kSum, what); }

void Collective::max(const torch::Tensor& t, const char* what) { run({t}, kMax, what); }

void Collective::broadcast(const torch::Tensor& t, const char* what) { run({t}, kBroadcast, what); }

bool Collective::anyRank(bool flag, const char* what)
{
    if (!distributed())
        return flag;
    auto t = torch::full({1}, flag ? 1.0f : 0.0f);
    run({t}, kMax, what);
    return t.item<float>() > 0;
}

std::vector<double> Collective::gather(double value, const char* what)
{
    if (!distributed())
        return {value};
    auto t = torch::zeros({size()}, torch::kFloat64);
    t[rank()] = value;
    run({t}, kSum, what);
    std::vector<double> out(static_cast<size_t>(size()));
    for (int r = 0; r < size(); ++r)
        out[static_cast<size_t>(r)] = t[r].item<double>();
    return out;
}

std::string Collective::broadcastText(const std::string& text, const char* what)
{
    if (!distributed())
        return text;
    auto n = torch::full({1}, static_cast<int64_t>(text.size()), torch::kInt64);
    run({n}, kBroadcast, what);
    auto bytes = torch::zeros({n.item<int64_t>()}, torch::kUInt8);
    if (isRoot())
        std::memcpy(bytes.data_ptr<uint8_t>(), text.data(), text.size());
    run({bytes}, kBroadcast, what);
    return std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), static_cast<size_t>(bytes.numel()));
}

std::vector<int64_t> shardRows(int64_t nsamples, int64_t batch, int rank, int worldSize)
{
    std::vector<int64_t> rows;
    const int64_t slice = batch / worldSize;
    const int64_t steps = nsamples / batch;
    for (int64_t s = 0; s < steps; ++s)
        for (int64_t i = 0; i < slice; ++i)
            rows.push_back(s * batch + rank * slice + i);
    const int64_t tail = nsamples - steps * batch;
    const int64_t from = tail * rank / worldSize, to = tail * (rank + 1) / worldSize;
    for (int64_t i = from; i < to; ++i)
        rows.push_back(steps * batch + i);
    return rows;
}

}  // namespace detail
}  // namespace aq
