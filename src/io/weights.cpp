#include "e2llm/io/weights.h"

#include <filesystem>
#include <torch/torch.h>

#include "e2llm/core/error.h"
#include "e2llm/io/gguf.h"
#include "e2llm/io/safetensors.h"

namespace e2llm {

size_t QuantizedTensor::row_bytes() const {
  const GgmlTypeTraits& t = ggml_type_traits(type);
  return static_cast<size_t>(cols / t.block_size) * t.type_size;
}

const uint8_t* QuantizedTensor::row(int64_t r) const {
  const int64_t stored = row_order.empty() ? r : row_order[static_cast<size_t>(r)];
  return data + static_cast<size_t>(stored) * row_bytes();
}

torch::Tensor Weights::get(const std::string& name, const std::vector<int64_t>& shape,
                           torch::ScalarType dtype) const {
  torch::Tensor t = get(name);
  E2LLM_CHECK(t.sizes().vec() == shape, "tensor '{}' has shape {} but the config implies {}", name,
              fmt::format("{}", fmt::join(t.sizes().vec(), "x")),
              fmt::format("{}", fmt::join(shape, "x")));
  return t.scalar_type() == dtype ? t : t.to(dtype);
}

namespace {

class PrefixedWeights : public Weights {
 public:
  PrefixedWeights(std::shared_ptr<const Weights> base, std::string prefix)
      : base_(std::move(base)), prefix_(std::move(prefix)) {}
  bool has(const std::string& name) const override { return base_->has(prefix_ + name); }
  torch::Tensor get(const std::string& name) const override { return base_->get(prefix_ + name); }
  using Weights::get;
  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const auto& n : base_->names())
      if (n.rfind(prefix_, 0) == 0) out.push_back(n.substr(prefix_.size()));
    return out;
  }
  TensorMeta meta(const std::string& name) const override { return base_->meta(prefix_ + name); }
  std::map<std::string, std::string> metadata() const override { return base_->metadata(); }

 private:
  std::shared_ptr<const Weights> base_;
  std::string prefix_;
};

}  // namespace

std::shared_ptr<Weights> prefixed(std::shared_ptr<const Weights> base, std::string prefix) {
  return std::make_shared<PrefixedWeights>(std::move(base), std::move(prefix));
}

std::shared_ptr<Weights> open_weights(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  E2LLM_CHECK(fs::exists(path, ec), "{}: no such file or folder", path);
  if (fs::is_directory(path, ec)) return SafeTensorsModel::open_folder(path);
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".safetensors") return SafeTensorsFile::open(path);
  if (ext == ".gguf") return GgufWeights::open(path);
  fail("{}: unsupported weights file (expected a model folder, .safetensors or .gguf)", path);
}

}  // namespace e2llm
