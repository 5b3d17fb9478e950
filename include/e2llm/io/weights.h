// Weights reached by name through a loader object (candle's VarBuilder idea):
// model code asks for "encoder.layer.0.attention.self.query.weight" and never
// cares whether it came from safetensors shards or a GGUF file.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <torch/types.h>

#include "e2llm/io/gguf_format.h"

namespace e2llm {

struct TensorMeta {
  std::string name;
  std::string dtype;             // file's own dtype name: "F32", "BF16", "Q4_K", ...
  std::vector<int64_t> shape;    // Hugging Face (row-major, PyTorch) order
};

// A 2-D tensor as its file stores it in a ggml block type (Q4_K, Q8_0, ...):
// `rows` rows of `cols` values, each row a whole number of blocks, read in
// place (no copy) by the quantized kernels (e2llm/nn/quantized_matmul.h).
struct QuantizedTensor {
  GgmlType type = GgmlType::F32;
  const uint8_t* data = nullptr;
  int64_t rows = 0, cols = 0;
  // Row r of the tensor under its Hugging Face name is stored row
  // row_order[r] (a Llama GGUF permutes q/k rows); empty = the same row.
  std::vector<int64_t> row_order;
  std::shared_ptr<const void> owner;  // keeps `data` alive (the mapped file)

  size_t row_bytes() const;
  const uint8_t* row(int64_t r) const;
};

class Weights {
 public:
  virtual ~Weights() = default;
  virtual bool has(const std::string& name) const = 0;
  // The tensor in the file's dtype where LibTorch has it (quantized types are
  // dequantized to float32). Throws e2llm::Error naming the tensor if absent.
  virtual torch::Tensor get(const std::string& name) const = 0;
  virtual std::vector<std::string> names() const = 0;
  virtual TensorMeta meta(const std::string& name) const = 0;
  // The tensor's own blocks when the file stores it block-quantized (2-D,
  // rows whole blocks); nullopt for float tensors and formats without blocks.
  virtual std::optional<QuantizedTensor> quantized(const std::string& name) const {
    (void)name;
    return std::nullopt;
  }
  // Free-form file metadata (safetensors __metadata__, GGUF key/values as text).
  virtual std::map<std::string, std::string> metadata() const { return {}; }

  // get() checked against an expected shape, converted to `dtype`.
  torch::Tensor get(const std::string& name, const std::vector<int64_t>& shape,
                    torch::ScalarType dtype = torch::kFloat32) const;
};

// A view of `base` with a name prefix, e.g. prefixed(w, "model.layers.3.").
std::shared_ptr<Weights> prefixed(std::shared_ptr<const Weights> base, std::string prefix);

// Opens a model folder (config.json + model.safetensors or sharded
// model.safetensors.index.json), a single .safetensors, or a .gguf file.
std::shared_ptr<Weights> open_weights(const std::string& path);

}  // namespace e2llm
