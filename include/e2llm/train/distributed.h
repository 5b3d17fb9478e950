// Data-parallel training between processes, on LibTorch's own distributed
// engine (c10d): a TCPStore for the rendezvous at the master's address and a
// Gloo process group for the collectives, the engine torchrun and DDP use.
// The trainer sees only this small interface: rank, world size, sum and
// broadcast of tensors, and an agreement check.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "e2llm/core/error.h"

namespace e2llm {

// A collective that failed: another rank stopped, crashed or hung.
class DistributedError : public Error {
 public:
  using Error::Error;
};

// Where a process sits in a job; the torchrun convention.
struct DistributedConfig {
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";  // where rank 0 hosts the rendezvous store
  int master_port = 29500;
  double timeout_s = 600;  // a collective that waits longer fails (a hung rank)

  // RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (and E2LLM_DIST_TIMEOUT, in
  // seconds) from the environment; what is unset keeps the defaults above.
  // A malformed value is an error naming the variable.
  static DistributedConfig from_environment();
  // Errors for a rank outside [0, world_size), a world size below 1, an
  // empty address, a port outside 1..65535 or a timeout <= 0.
  void validate() const;
};

class ProcessGroup {
 public:
  // Joins the job: rank 0 hosts the store, the others connect to it; returns
  // when all world_size processes are there (or fails after timeout_s).
  // Loopback masters keep all traffic on 127.0.0.1. GLOO_SOCKET_IFNAME names
  // the network interface for a multi-machine job.
  static std::unique_ptr<ProcessGroup> join(const DistributedConfig& config);
  ~ProcessGroup();

  int rank() const;
  int world_size() const;

  // Sums the tensors element-wise over all ranks, in place. They are packed
  // into float32 buckets of at most `bucket_bytes`, one collective per bucket
  // (the tensors keep their own dtype and device).
  void all_reduce_sum(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes = 25 << 20);
  // Replaces the tensors with rank `root`'s, in place (same packing).
  void broadcast(const std::vector<torch::Tensor>& tensors, int root = 0, int64_t bucket_bytes = 25 << 20);
  // Fails on every rank, naming `what`, unless all ranks pass the same value
  // (compared by a 64-bit hash).
  void check_same(const std::string& what, const std::string& value);

 private:
  struct Impl;
  explicit ProcessGroup(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace e2llm
