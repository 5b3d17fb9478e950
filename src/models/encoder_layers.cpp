#include <cmath>

#include "e2llm/attention.h"
#include "e2llm/cpu_features.h"
#include "e2llm/error.h"
#include "models/encoder_internal.h"

namespace e2llm::encoder_detail {

WeightLoader::WeightLoader(const Weights& weights, const EncoderOptions& options, std::string prefix)
    : weights_(weights), options_(options), prefix_(std::move(prefix)) {}

bool WeightLoader::has(const std::string& name) const { return weights_.has(prefix_ + name); }

torch::Tensor WeightLoader::get(const std::string& name, const std::vector<int64_t>& shape) const {
  E2LLM_CHECK(has(name), "model weights lack tensor '{}'", prefix_ + name);
  return weights_.get(prefix_ + name, shape, options_.dtype).to(options_.device);
}

std::string detect_prefix(const Weights& weights) {
  const std::string probe = "embeddings.word_embeddings.weight";
  for (const char* prefix : {"", "bert.", "roberta.", "new.", "model.", "0.auto_model."})
    if (weights.has(prefix + probe)) return prefix;
  fail("model weights have no '{}' (nor under bert./roberta./new. prefixes): not a BERT-family encoder",
       probe);
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

nn::Linear linear_at(torch::nn::Module& root, const WeightLoader& w, const std::string& path,
                     int64_t out_features, int64_t in_features, bool bias) {
  torch::Tensor weight = w.get(path + ".weight", {out_features, in_features});
  torch::Tensor b = bias ? w.get(path + ".bias", {out_features}) : torch::Tensor();
  auto [parent, leaf] = split_last(path);
  return module_at(root, parent).register_module(leaf, nn::Linear(weight, b));
}

torch::ScalarType compute_dtype(const torch::Tensor& x) {
  if (x.scalar_type() == torch::kBFloat16 && x.device().is_cpu() && !bf16_matmul_native()) return torch::kFloat32;
  return x.scalar_type();
}

torch::Tensor Norm::operator()(const torch::Tensor& x) const {
  if (!rms) {
    if (weight.scalar_type() == x.scalar_type()) return torch::layer_norm(x, {x.size(-1)}, weight, bias, eps);
    return torch::layer_norm(x, {x.size(-1)}, weight.to(x.scalar_type()), bias.to(x.scalar_type()), eps);
  }
  // new-impl's RMSNorm: normalise in float32, scale in the input dtype.
  torch::Tensor xf = x.to(torch::kFloat32);
  xf = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight.to(x.scalar_type()) * xf.to(x.scalar_type());
}

Norm norm_at(torch::nn::Module& root, const WeightLoader& w, const std::string& path, int64_t size,
             double eps, bool rms) {
  Norm n;
  n.eps = eps;
  n.rms = rms;
  n.weight = frozen_at(root, path + ".weight", w.get(path + ".weight", {size}));
  if (!rms) n.bias = frozen_at(root, path + ".bias", w.get(path + ".bias", {size}));
  return n;
}

Activation activation(const std::string& name) {
  if (name == "gelu") return [](const torch::Tensor& x) { return torch::gelu(x); };
  if (name == "gelu_new" || name == "gelu_pytorch_tanh")
    return [](const torch::Tensor& x) { return torch::gelu(x, "tanh"); };
  if (name == "relu") return [](const torch::Tensor& x) { return torch::relu(x); };
  if (name == "silu" || name == "swish") return [](const torch::Tensor& x) { return torch::silu(x); };
  fail("unknown hidden_act '{}'", name);
}

torch::Tensor attention_bias(const torch::Tensor& mask, torch::ScalarType dtype) {
  const double lowest = dtype == torch::kBFloat16 ? -3.38e38 : std::numeric_limits<float>::lowest();
  torch::Tensor padding = mask.eq(0).view({mask.size(0), 1, 1, mask.size(1)});
  return torch::zeros(padding.sizes(), torch::TensorOptions().dtype(dtype).device(mask.device()))
      .masked_fill(padding, lowest);
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& bias) {
  return nn::encoder_attention(q, k, v, bias, 1.0 / std::sqrt(static_cast<double>(q.size(3))));
}

}  // namespace e2llm::encoder_detail
