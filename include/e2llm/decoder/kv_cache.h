// Preallocated key/value cache for incremental decoding of a batch.
//
// Layout: per layer K and V of [batch, kv_heads, capacity, head_dim], always
// contiguous. Slots are shared by the batch: a forward of T new tokens writes
// slots [used, used + T) for every sequence. Padding tokens occupy slots too,
// but are marked invalid and never attended to, so sequences of different
// lengths (left- or right-padded prompts) decode together. Each slot also
// remembers its token's position, and each sequence its length (= the
// position its next token gets).
#pragma once
#include <torch/types.h>

#include <vector>

namespace e2llm {

class KvCache {
 public:
  KvCache() = default;
  KvCache(int64_t num_layers, int64_t batch, int64_t kv_heads, int64_t capacity, int64_t head_dim,
          torch::ScalarType dtype = torch::kFloat32, torch::Device device = torch::kCPU);

  int64_t num_layers() const { return static_cast<int64_t>(keys_.size()); }
  int64_t batch_size() const { return valid_.size(0); }
  int64_t capacity() const { return valid_.size(1); }
  int64_t used() const { return used_; }       // slots written so far
  const torch::Tensor& lengths() const { return lengths_; }  // [B] int64 valid tokens per sequence
  bool empty() const { return keys_.empty(); }
  size_t nbytes() const;  // of every layer's K and V
  torch::ScalarType dtype() const { return empty() ? torch::kFloat32 : keys_.front().scalar_type(); }

  // Validity and position of the slots in use ([B, used]); the model builds
  // attention masks from them.
  torch::Tensor slot_valid() const;
  torch::Tensor slot_positions() const;

  // Writes k, v ([B, kv_heads, T, head_dim]) for `layer` at slots
  // [used, used + T) and returns K and V of slots [0, used + T).
  std::pair<torch::Tensor, torch::Tensor> write(int64_t layer, const torch::Tensor& k, const torch::Tensor& v);
  // After every layer has written: marks the T new slots with their validity
  // ([B, T] bool) and positions ([B, T] int64) and advances `used`.
  void advance(const torch::Tensor& valid, const torch::Tensor& positions);

  void reset();  // forget everything, keep the memory
  // Keeps only the sequences at `rows` (e.g. drop finished ones), in that order.
  void select(const std::vector<int64_t>& rows);
  // Adds the sequences of `other` (same layers, heads, head size and dtype)
  // after this cache's rows, for sequences that join a batch being decoded.
  // Both keep their slots; the shorter side's slots up to the longer side's
  // `used` are marked invalid, so attention skips them. Capacity becomes
  // `used` plus the larger of the two free capacities. Copies both.
  void append(const KvCache& other);
  // A copy of the first `keep` slots (-1: all in use) with room for
  // `capacity` (at least `keep`): a stored prompt state, or the part of it a
  // new prompt shares, grown for the tokens that follow.
  KvCache resized(int64_t capacity, int64_t keep = -1) const;

 private:
  std::vector<torch::Tensor> keys_, values_;
  torch::Tensor valid_;      // [B, capacity] bool
  torch::Tensor positions_;  // [B, capacity] int64
  torch::Tensor lengths_;    // [B] int64
  int64_t used_ = 0;
};

}  // namespace e2llm
