// GGUF (llama.cpp's model format): memory-mapped reader, dequantization of
// the common ggml block types to float32, and a Weights view that hands out
// tensors under Hugging Face names and shapes. The format itself (values,
// tensor infos, the header parser) is in gguf_format.h.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>
#include <nlohmann/json_fwd.hpp>

#include "e2llm/io/gguf_config.h"
#include "e2llm/io/gguf_format.h"
#include "e2llm/io/weights.h"

namespace e2llm {

class MappedFile;

// Whether dequantize_ggml() handles `type`: F32, F16, BF16, Q8_0, Q4_0, Q4_1,
// Q5_0, Q5_1, Q4_K, Q5_K, Q6_K.
bool ggml_can_dequantize(GgmlType type);

// Decodes `n_elements` values (a whole number of blocks) of `type` from `src`
// into `dst`, bit-exactly as ggml / gguf-py do. Parallel over blocks.
void dequantize_ggml(GgmlType type, const uint8_t* src, uint64_t n_elements, float* dst);

class GgufFile {
 public:
  static std::shared_ptr<GgufFile> open(const std::string& path);

  const std::string& path() const { return path_; }
  uint32_t version() const { return header_.version; }
  uint64_t alignment() const { return header_.alignment; }
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return header_.metadata; }
  const std::vector<GgufTensorInfo>& tensors() const { return header_.tensors; }
  const GgufHeader& header() const { return header_; }

  bool has(const std::string& key) const { return key_index_.count(key) > 0; }
  const GgufValue& value(const std::string& key) const;  // throws naming the key
  const std::string& get_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  const std::vector<std::string>& get_string_array(const std::string& key) const;
  std::vector<int64_t> get_int_array(const std::string& key) const;
  std::vector<float> get_float_array(const std::string& key) const;
  std::string architecture() const;  // general.architecture

  const GgufTensorInfo* find_tensor(const std::string& name) const;  // nullptr if absent
  const uint8_t* tensor_data(const GgufTensorInfo& info) const;
  // The tensor in GGUF's own layout (shape = info.shape()): float32 for
  // quantized types, F32/F16/BF16 zero-copy in their dtype. Throws naming the
  // tensor when absent or of a type that cannot be dequantized.
  torch::Tensor load_tensor(const std::string& name) const;

 private:
  GgufFile() = default;
  template <typename T, typename Get>
  T get_as(const std::string& key, Get get) const;
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  GgufHeader header_;
  std::unordered_map<std::string, size_t> key_index_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

// The Hugging Face name transformers gives a llama.cpp tensor name for
// `arch` ("llama", "gemma3", ...), e.g. "blk.3.attn_q.weight" ->
// "model.layers.3.self_attn.q_proj.weight"; "" when there is no mapping.
std::string gguf_to_hf_tensor_name(const std::string& arch, const std::string& gguf_name);

// gguf_to_hf_config(file.header(), file.path()) (see gguf_config.h).
nlohmann::json gguf_to_hf_config(const GgufFile& file);

// A GGUF file seen as Hugging Face weights: names mapped as transformers maps
// them, shapes in PyTorch order, and the same value transforms transformers'
// GGUF loader applies (Llama q/k row permutation undone; Gemma norm weights
// stored as 1 + w turned back into w). Tensors without a mapping keep their
// GGUF name. Quantized tensors come back as float32.
class GgufWeights : public Weights {
 public:
  static std::shared_ptr<GgufWeights> open(const std::string& path);
  explicit GgufWeights(std::shared_ptr<const GgufFile> file);

  bool has(const std::string& name) const override;
  torch::Tensor get(const std::string& name) const override;
  using Weights::get;
  std::vector<std::string> names() const override;
  TensorMeta meta(const std::string& name) const override;
  // Block-quantized 2-D tensors in place, with the Llama q/k row permutation
  // expressed as row_order.
  std::optional<QuantizedTensor> quantized(const std::string& name) const override;
  // Every key/value as text; long arrays summarised.
  std::map<std::string, std::string> metadata() const override;
  const GgufFile& file() const { return *file_; }

 private:
  const GgufTensorInfo& info(const std::string& hf_name) const;
  // Heads whose rows convert_hf_to_gguf.py interleaved (Llama q/k), else 0.
  int64_t permuted_heads(const GgufTensorInfo& t) const;
  std::shared_ptr<const GgufFile> file_;
  std::string arch_;
  std::map<std::string, std::string> hf_to_gguf_;  // sorted: names() is ordered
};

}  // namespace e2llm
