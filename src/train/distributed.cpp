// The c10d side of data-parallel training: TCPStore rendezvous and Gloo
// collectives. LibTorch's CMake config defines USE_C10D_GLOO, which its
// headers need to declare ProcessGroupGloo.
#include "e2llm/train/distributed.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fmt/format.h>

#include "e2llm/io/base_model.h"

namespace e2llm {
namespace {

// An integer environment variable, or `fallback` when unset.
template <typename T>
T integer_from_env(const char* name, T fallback) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text, &end, 10);
  E2LLM_CHECK(errno == 0 && *end == '\0', "{}={}: not an integer", name, text);
  return static_cast<T>(value);
}

bool is_loopback(const std::string& address) {
  return address == "localhost" || address == "::1" || address.rfind("127.", 0) == 0;
}

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// Runs one collective; a peer that died or timed out surfaces here.
void finish(const c10::intrusive_ptr<c10d::Work>& work, const char* what, int rank) {
  try {
    work->wait();
  } catch (const std::exception& e) {
    throw DistributedError(fmt::format("distributed training: {} failed on rank {} (another rank stopped, crashed or hung): {}",
                            what, rank, c10::GetExceptionString(e)));
  }
}

// Consecutive runs of tensors whose float32 copies fit `bucket_bytes`
// (a tensor larger than that is a bucket alone).
std::vector<std::vector<torch::Tensor>> buckets_of(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  std::vector<std::vector<torch::Tensor>> buckets;
  int64_t bytes = 0;
  for (const torch::Tensor& t : tensors) {
    const int64_t size = t.numel() * static_cast<int64_t>(sizeof(float));
    if (buckets.empty() || (bytes + size > bucket_bytes && !buckets.back().empty())) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().push_back(t);
    bytes += size;
  }
  return buckets;
}

torch::Tensor pack(const std::vector<torch::Tensor>& bucket) {
  std::vector<torch::Tensor> flat;
  for (const torch::Tensor& t : bucket) flat.push_back(t.detach().reshape(-1).to(torch::kCPU, torch::kFloat32));
  return torch::cat(flat);
}

void unpack(const torch::Tensor& packed, const std::vector<torch::Tensor>& bucket) {
  torch::NoGradGuard no_grad;
  int64_t offset = 0;
  for (const torch::Tensor& t : bucket) {
    t.copy_(packed.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

}  // namespace

DistributedConfig DistributedConfig::from_environment() {
  DistributedConfig c;
  c.rank = integer_from_env("RANK", c.rank);
  c.world_size = integer_from_env("WORLD_SIZE", c.world_size);
  if (const char* addr = std::getenv("MASTER_ADDR"); addr && *addr) c.master_addr = addr;
  c.master_port = integer_from_env("MASTER_PORT", c.master_port);
  c.timeout_s = static_cast<double>(integer_from_env<int64_t>("E2LLM_DIST_TIMEOUT", static_cast<int64_t>(c.timeout_s)));
  return c;
}

void DistributedConfig::validate() const {
  E2LLM_CHECK(world_size >= 1, "distributed training: the world size must be at least 1, got {}", world_size);
  E2LLM_CHECK(rank >= 0 && rank < world_size, "distributed training: rank {} is outside 0..{} (world size {})", rank,
              world_size - 1, world_size);
  E2LLM_CHECK(!master_addr.empty(), "distributed training: the master address is empty");
  E2LLM_CHECK(master_port >= 1 && master_port <= 65535, "distributed training: master port {} is outside 1..65535",
              master_port);
  E2LLM_CHECK(timeout_s > 0, "distributed training: the timeout must be positive, got {} s", timeout_s);
}

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  int rank = 0;
  int world_size = 1;
};

ProcessGroup::ProcessGroup(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProcessGroup::~ProcessGroup() = default;

std::unique_ptr<ProcessGroup> ProcessGroup::join(const DistributedConfig& config) {
  config.validate();
  auto impl = std::make_unique<Impl>();
  impl->rank = config.rank;
  impl->world_size = config.world_size;
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(config.master_port);
    store_options.isServer = config.rank == 0;
    store_options.numWorkers = static_cast<size_t>(config.world_size);
    store_options.waitWorkers = true;
    store_options.timeout = to_ms(config.timeout_s);
    impl->store = c10::make_intrusive<c10d::TCPStore>(config.master_addr, store_options);

    auto options = c10d::ProcessGroupGloo::Options::create(to_ms(config.timeout_s));
    options->threads = 2;
    if (is_loopback(config.master_addr))
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface && *interface)
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
    else
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    impl->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, config.rank, config.world_size, options);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(fmt::format("distributed training: rank {} of {} could not join the job at {}:{} within {} s: {}",
                            config.rank, config.world_size, config.master_addr, config.master_port, config.timeout_s,
                            c10::GetExceptionString(e)));
  }
  return std::unique_ptr<ProcessGroup>(new ProcessGroup(std::move(impl)));
}

int ProcessGroup::rank() const { return impl_->rank; }
int ProcessGroup::world_size() const { return impl_->world_size; }

void ProcessGroup::all_reduce_sum(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  for (const auto& bucket : buckets_of(tensors, bucket_bytes)) {
    std::vector<torch::Tensor> packed{pack(bucket)};
    finish(impl_->group->allreduce(packed), "all-reduce", impl_->rank);
    unpack(packed.front(), bucket);
  }
}

void ProcessGroup::broadcast(const std::vector<torch::Tensor>& tensors, int root, int64_t bucket_bytes) {
  c10d::BroadcastOptions options;
  options.rootRank = root;
  for (const auto& bucket : buckets_of(tensors, bucket_bytes)) {
    std::vector<torch::Tensor> packed{pack(bucket)};
    finish(impl_->group->broadcast(packed, options), "broadcast", impl_->rank);
    unpack(packed.front(), bucket);
  }
}

void ProcessGroup::check_same(const std::string& what, const std::string& text) {
  const uint64_t value = std::stoull(fnv1a_hex(text.data(), text.size()), nullptr, 16);
  // float32 packing would round a 64-bit value, so it travels in 16-bit
  // pieces (exact in float32): rank 0 broadcasts its pieces, and the count of
  // ranks whose pieces differ is summed.
  std::vector<float> pieces;
  for (int shift = 0; shift < 64; shift += 16) pieces.push_back(static_cast<float>((value >> shift) & 0xffff));
  torch::Tensor mine = torch::tensor(pieces);
  torch::Tensor root = mine.clone();
  broadcast({root});
  torch::Tensor differs = (mine != root).any().to(torch::kFloat32).reshape({1});
  all_reduce_sum({differs});
  E2LLM_CHECK(differs.item<float>() == 0, "distributed training: the ranks disagree on {} ({} of {} differ from rank 0)",
              what, differs.item<float>(), impl_->world_size);
}

}  // namespace e2llm
