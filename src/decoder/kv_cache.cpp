#include "e2llm/decoder/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <immintrin.h>

#include "e2llm/core/error.h"
#include "nn/avx2_math.h"

namespace e2llm {
namespace {

// float32 to float16, rounding to nearest even as c10::Half does; F16C converts
// eight at a time (c10::Half's bit arithmetic took ~7 ns a value).
E2LLM_AVX2 void to_half_f16c(const float* x, int64_t n, c10::Half* y) {
  int64_t c = 0;
  for (; c + 8 <= n; c += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + c),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + c), _MM_FROUND_TO_NEAREST_INT));
  for (; c < n; ++c) y[c] = c10::Half(x[c]);
}

void floats_to_half(const float* x, int64_t n, c10::Half* y) {
  if (avx2::cpu_supported()) return to_half_f16c(x, n, y);
  for (int64_t c = 0; c < n; ++c) y[c] = c10::Half(x[c]);
}

// new_slots [B, KVH, n, d] into slots [used, used + n) of cache [B, KVH,
// capacity, d], row by row when both lie on the CPU and no gradient is
// recorded: a decoding step's strided copy_() through the dispatcher cost more
// than its bytes (two per layer per token). Rows of the cache's own dtype are
// copied as memory, float32 rows into a float16 cache converted (floats_to_half);
// anything else goes through copy_().
void write_slots(torch::Tensor& cache, const torch::Tensor& new_slots, int64_t used) {
  const int64_t capacity = cache.size(2);
  const int64_t B = new_slots.size(0), heads = new_slots.size(1), n = new_slots.size(2), d = new_slots.size(3);
  const bool grad = torch::GradMode::is_enabled() && new_slots.requires_grad();
  const bool same_type = cache.scalar_type() == new_slots.scalar_type();
  const bool to_half = cache.scalar_type() == torch::kHalf && new_slots.scalar_type() == torch::kFloat32;
  const bool by_rows = !grad && (same_type || to_half) && cache.device().is_cpu() && new_slots.device().is_cpu() &&
                       cache.is_contiguous() && new_slots.stride(3) == 1 && cache.size(0) == B &&
                       cache.size(1) == heads && cache.size(3) == d;
  if (!by_rows) {
    cache.narrow(2, used, n).copy_(new_slots);
    return;
  }
  const size_t in_item = new_slots.element_size(), out_item = cache.element_size();
  auto* dst = static_cast<char*>(cache.data_ptr());
  const auto* src = static_cast<const char*>(new_slots.data_ptr());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t t = 0; t < n; ++t) {
        char* out = dst + (((b * heads + h) * capacity + used + t) * d) * out_item;
        const char* in = src + (b * new_slots.stride(0) + h * new_slots.stride(1) + t * new_slots.stride(2)) * in_item;
        if (same_type) {
          std::memcpy(out, in, static_cast<size_t>(d) * out_item);
        } else {
          floats_to_half(reinterpret_cast<const float*>(in), d, reinterpret_cast<c10::Half*>(out));
        }
      }
}

}  // namespace

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

size_t KvCache::nbytes() const {
  size_t n = 0;
  for (const torch::Tensor& t : keys_) n += t.nbytes();
  for (const torch::Tensor& t : values_) n += t.nbytes();
  return n;
}

torch::Tensor KvCache::slot_valid() const { return valid_.narrow(1, 0, used_); }
torch::Tensor KvCache::slot_positions() const { return positions_.narrow(1, 0, used_); }

std::pair<torch::Tensor, torch::Tensor> KvCache::write(int64_t layer, const torch::Tensor& k, const torch::Tensor& v) {
  E2LLM_CHECK(layer >= 0 && layer < num_layers(), "KV cache has no layer {}", layer);
  int64_t n = k.size(2);
  E2LLM_CHECK(used_ + n <= capacity(), "KV cache is full: {} + {} slots > capacity {}", used_, n, capacity());
  torch::Tensor& K = keys_[layer];
  torch::Tensor& V = values_[layer];
  write_slots(K, k, used_);
  write_slots(V, v, used_);
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

namespace {

// `t` with its slot dimension `dim` grown (or cut) to `capacity`, slots
// [0, used) copied, the rest zero (invalid).
torch::Tensor resized_slots(const torch::Tensor& t, int64_t dim, int64_t used, int64_t capacity) {
  std::vector<int64_t> sizes = t.sizes().vec();
  sizes[dim] = capacity;
  torch::Tensor out = torch::zeros(sizes, t.options());
  if (used > 0) out.narrow(dim, 0, used).copy_(t.narrow(dim, 0, used));
  return out;
}

}  // namespace

void KvCache::append(const KvCache& other) {
  E2LLM_CHECK(!other.empty(), "KV cache append(): the other cache is empty");
  if (empty()) {
    *this = other;
    return;
  }
  E2LLM_CHECK(num_layers() == other.num_layers() && keys_[0].size(1) == other.keys_[0].size(1) &&
                  keys_[0].size(3) == other.keys_[0].size(3) && keys_[0].dtype() == other.keys_[0].dtype(),
              "KV cache append(): the caches differ in layers, heads, head size or dtype");
  const int64_t used = std::max(used_, other.used_);
  const int64_t capacity = used + std::max(this->capacity() - used_, other.capacity() - other.used_);
  auto joined = [&](const torch::Tensor& mine, const torch::Tensor& theirs, int64_t dim) {
    return torch::cat({resized_slots(mine, dim, used_, capacity), resized_slots(theirs, dim, other.used_, capacity)});
  };
  for (int64_t l = 0; l < num_layers(); ++l) {
    keys_[l] = joined(keys_[l], other.keys_[l], 2);
    values_[l] = joined(values_[l], other.values_[l], 2);
  }
  valid_ = joined(valid_, other.valid_, 1);
  positions_ = joined(positions_, other.positions_, 1);
  lengths_ = torch::cat({lengths_, other.lengths_});
  used_ = used;
}

KvCache KvCache::resized(int64_t capacity, int64_t keep) const {
  E2LLM_CHECK(!empty(), "KV cache resized(): the cache is empty");
  if (keep < 0) keep = used_;
  E2LLM_CHECK(keep <= used_, "KV cache resized(): cannot keep {} slots of {} in use", keep, used_);
  E2LLM_CHECK(capacity >= keep, "KV cache resized(): {} slots cannot hold the {} kept", capacity, keep);
  KvCache out;
  for (const torch::Tensor& k : keys_) out.keys_.push_back(resized_slots(k, 2, keep, capacity));
  for (const torch::Tensor& v : values_) out.values_.push_back(resized_slots(v, 2, keep, capacity));
  out.valid_ = resized_slots(valid_, 1, keep, capacity);
  out.positions_ = resized_slots(positions_, 1, keep, capacity);
  out.lengths_ = out.valid_.sum(1);
  out.used_ = keep;
  return out;
}

}  // namespace e2llm
