#include "e2llm/decoder/kv_cache.h"

#include "e2llm/core/error.h"

namespace e2llm {

KvCache::KvCache(int64_t num_layers, int64_t batch, int64_t kv_heads, int64_t capacity, int64_t head_dim,
                 torch::ScalarType dtype, torch::Device device) {
  E2LLM_CHECK(num_layers > 0 && batch > 0 && kv_heads > 0 && capacity > 0 && head_dim > 0,
              "KV cache sizes must be positive (layers {}, batch {}, kv_heads {}, capacity {}, head_dim {})",
              num_layers, batch, kv_heads, capacity, head_dim);
  auto opts = torch::TensorOptions().dtype(dtype).device(device);
  for (int64_t i = 0; i < num_layers; ++i) {
    keys_.push_back(torch::zeros({batch, kv_heads, capacity, head_dim}, opts));
    values_.push_back(torch::zeros({batch, kv_heads, capacity, head_dim}, opts));
  }
  valid_ = torch::zeros({batch, capacity}, torch::TensorOptions().dtype(torch::kBool).device(device));
  positions_ = torch::zeros({batch, capacity}, torch::TensorOptions().dtype(torch::kInt64).device(device));
  lengths_ = torch::zeros({batch}, torch::TensorOptions().dtype(torch::kInt64).device(device));
}

torch::Tensor KvCache::slot_valid() const { return valid_.narrow(1, 0, used_); }
torch::Tensor KvCache::slot_positions() const { return positions_.narrow(1, 0, used_); }

std::pair<torch::Tensor, torch::Tensor> KvCache::write(int64_t layer, const torch::Tensor& k, const torch::Tensor& v) {
  E2LLM_CHECK(layer >= 0 && layer < num_layers(), "KV cache has no layer {}", layer);
  int64_t n = k.size(2);
  E2LLM_CHECK(used_ + n <= capacity(), "KV cache is full: {} + {} slots > capacity {}", used_, n, capacity());
  torch::Tensor& K = keys_[layer];
  torch::Tensor& V = values_[layer];
  K.narrow(2, used_, n).copy_(k);
  V.narrow(2, used_, n).copy_(v);
  return {K.narrow(2, 0, used_ + n), V.narrow(2, 0, used_ + n)};
}

void KvCache::advance(const torch::Tensor& valid, const torch::Tensor& positions) {
  int64_t n = valid.size(1);
  E2LLM_CHECK(used_ + n <= capacity(), "KV cache is full: {} + {} slots > capacity {}", used_, n, capacity());
  torch::Tensor v = valid.to(torch::kBool);
  valid_.narrow(1, used_, n).copy_(v);
  positions_.narrow(1, used_, n).copy_(positions);
  lengths_ += v.sum(1);
  used_ += n;
}

void KvCache::reset() {
  valid_.zero_();
  lengths_.zero_();
  used_ = 0;
}

void KvCache::select(const std::vector<int64_t>& rows) {
  E2LLM_CHECK(!rows.empty(), "KV cache select() needs at least one row");
  for (int64_t r : rows)
    E2LLM_CHECK(r >= 0 && r < batch_size(), "KV cache select(): row {} outside batch of {}", r, batch_size());
  torch::Tensor index = torch::tensor(rows, torch::kInt64).to(valid_.device());
  for (auto& t : keys_) t = t.index_select(0, index);
  for (auto& t : values_) t = t.index_select(0, index);
  valid_ = valid_.index_select(0, index);
  positions_ = positions_.index_select(0, index);
  lengths_ = lengths_.index_select(0, index);
}

}  // namespace e2llm
