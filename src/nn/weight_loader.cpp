#include "e2llm/nn/weight_loader.h"

#include <utility>

#include "e2llm/core/error.h"
#include "e2llm/nn/quantized_matmul.h"

namespace e2llm::nn {

WeightLoader::WeightLoader(const Weights& weights, torch::ScalarType dtype, torch::Device device, std::string prefix,
                           bool keep_quantized)
    : weights_(&weights), dtype_(dtype), device_(device), prefix_(std::move(prefix)), keep_quantized_(keep_quantized) {}

bool WeightLoader::has(const std::string& name) const { return weights_->has(prefix_ + name); }

torch::Tensor WeightLoader::get(const std::string& name, const std::vector<int64_t>& shape) const {
  const std::string key = prefix_ + name;
  E2LLM_CHECK(weights_->has(key), "model weights lack tensor '{}'", key);
  torch::Tensor t = weights_->get(key, shape, dtype_);
  return t.device() == device_ ? t : t.to(device_);
}

torch::Tensor WeightLoader::get_optional(const std::string& name, const std::vector<int64_t>& shape,
                                         bool wanted) const {
  return wanted ? get(name, shape) : torch::Tensor();
}

std::shared_ptr<const QuantizedTensor> WeightLoader::quantized(const std::string& name,
                                                               const std::vector<int64_t>& shape) const {
  const std::string key = prefix_ + name;
  if (!keep_quantized_ || !device_.is_cpu() || !weights_->has(key)) return nullptr;
  std::optional<QuantizedTensor> q = weights_->quantized(key);
  if (!q || !quantized_matmul_supports(q->type)) return nullptr;
  E2LLM_CHECK(shape.size() == 2 && q->rows == shape[0] && q->cols == shape[1],
              "tensor '{}' has shape [{}, {}], expected [{}]", key, q->rows, q->cols, fmt::join(shape, ", "));
  return std::make_shared<const QuantizedTensor>(std::move(*q));
}

Linear WeightLoader::linear(const std::string& name, int64_t in_features, int64_t out_features, bool bias) const {
  torch::Tensor b = get_optional(name + ".bias", {out_features}, bias);
  if (auto q = quantized(name + ".weight", {out_features, in_features})) return Linear(std::move(q), b);
  return Linear(get(name + ".weight", {out_features, in_features}), b);
}

WeightLoader WeightLoader::sub(const std::string& name) const {
  return WeightLoader(*weights_, dtype_, device_, prefix_ + name + ".", keep_quantized_);
}

torch::nn::Module& module_at(torch::nn::Module& root, const std::string& path) {
  torch::nn::Module* node = &root;
  size_t begin = 0;
  while (begin < path.size()) {
    size_t end = path.find('.', begin);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(begin, end - begin);
    auto children = node->named_children();
    if (auto* found = children.find(part)) {
      node = found->get();
    } else {
      node = node->register_module(part, std::make_shared<torch::nn::Module>()).get();
    }
    begin = end + 1;
  }
  return *node;
}

namespace {
// "a.b.c" -> {"a.b", "c"}; "c" -> {"", "c"}.
std::pair<std::string, std::string> split_last(const std::string& path) {
  const size_t dot = path.rfind('.');
  if (dot == std::string::npos) return {"", path};
  return {path.substr(0, dot), path.substr(dot + 1)};
}
}  // namespace

torch::Tensor frozen_at(torch::nn::Module& root, const std::string& path, torch::Tensor value) {
  auto [parent, leaf] = split_last(path);
  return module_at(root, parent).register_parameter(leaf, std::move(value), /*requires_grad=*/false);
}

torch::Tensor frozen_at(torch::nn::Module& root, const WeightLoader& w, const std::string& path,
                        const std::vector<int64_t>& shape) {
  return frozen_at(root, path, w.get(path, shape));
}

Linear linear_at(torch::nn::Module& root, const WeightLoader& w, const std::string& path, int64_t in_features,
                 int64_t out_features, bool bias) {
  auto [parent, leaf] = split_last(path);
  return module_at(root, parent).register_module(leaf, w.linear(path, in_features, out_features, bias));
}

}  // namespace e2llm::nn
