// Base-model identities: config hash and weight fingerprint (see base_model.h).
#include "e2llm/io/base_model.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "e2llm/io/gguf.h"
#include "e2llm/io/weights.h"

namespace e2llm {
namespace {

uint64_t fnv1a(const void* data, size_t size, uint64_t h) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

uint64_t fnv1a(std::string_view s, uint64_t h) { return fnv1a(s.data(), s.size(), h); }

std::string hex64(uint64_t h) { return fmt::format("{:016x}", h); }

// Hashes the tensor's values as float32, the bytes of
// weights.get(name).to(kFloat32), but a block-quantized tensor a row at a
// time: Gemma 3's 262k-word embedding would otherwise be dequantized whole
// (671 MB) only to be hashed, and that copy was the peak of a quantized
// E2LLM model's memory. Rows come in get()'s order (QuantizedTensor::row).
uint64_t hash_float32_values(const Weights& weights, const std::string& name, uint64_t h) {
  if (const std::optional<QuantizedTensor> q = weights.quantized(name); q && ggml_can_dequantize(q->type)) {
    std::vector<float> row(static_cast<size_t>(q->cols));
    for (int64_t r = 0; r < q->rows; ++r) {
      dequantize_ggml(q->type, q->row(r), static_cast<uint64_t>(q->cols), row.data());
      h = fnv1a(row.data(), row.size() * sizeof(float), h);
    }
    return h;
  }
  torch::Tensor t = weights.get(name).to(torch::kFloat32).contiguous();
  return fnv1a(t.data_ptr(), t.numel() * sizeof(float), h);
}

}  // namespace

std::string fnv1a_hex(const void* data, size_t size, uint64_t seed) { return hex64(fnv1a(data, size, seed)); }

// describe(), to_json() and from_json() are in checkpoint_json.cpp (torch-free).

BaseModelIdentity identify_base_model(const std::string& role, const std::string& path,
                                      const Weights& weights, const nlohmann::json& config) {
  BaseModelIdentity id{role, path, hex64(fnv1a(config.dump(), 14695981039346656037ull)), ""};
  std::vector<std::string> names = weights.names();
  std::sort(names.begin(), names.end());
  uint64_t h = 14695981039346656037ull;
  for (const auto& name : names) {
    TensorMeta m = weights.meta(name);
    h = fnv1a(name, h);
    h = fnv1a(m.dtype, h);
    h = fnv1a(m.shape.data(), m.shape.size() * sizeof(int64_t), h);
  }
  if (!names.empty()) {
    for (size_t i : {size_t{0}, names.size() / 2, names.size() - 1}) h = hash_float32_values(weights, names[i], h);
  }
  id.weight_fingerprint = hex64(h);
  return id;
}

void check_base_models(const std::vector<BaseModelIdentity>& saved,
                       const std::vector<BaseModelIdentity>& current) {
  for (const auto& want : saved) {
    auto it = std::find_if(current.begin(), current.end(),
                           [&](const BaseModelIdentity& c) { return c.role == want.role; });
    E2LLM_CHECK(it != current.end(), "checkpoint was trained with {}, but no {} is loaded now",
                want.describe(), want.role);
    E2LLM_CHECK(it->same_model(want),
                "checkpoint belongs to another base model: it was trained with {}, but the {} given now "
                "is {}",
                want.describe(), want.role, it->describe());
  }
}

}  // namespace e2llm
