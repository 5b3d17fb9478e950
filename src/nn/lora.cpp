#include "e2llm/nn/lora.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "core/tensor_cast.h"
#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "e2llm/core/cpu_features.h"
#include "e2llm/io/safetensors.h"
#include "e2llm/nn/quantized_matmul.h"
#include "io/json_fields.h"
#include "nn/lora_side_path.h"

namespace e2llm::nn {

double LoraConfig::scaling() const {
  return use_rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / static_cast<double>(rank);
}

LinearImpl::LinearImpl(torch::Tensor w, torch::Tensor b) {
  E2LLM_CHECK(w.defined() && w.dim() == 2, "Linear needs a 2-D weight, got {} dims",
              w.defined() ? w.dim() : 0);
  E2LLM_CHECK(!b.defined() || (b.dim() == 1 && b.size(0) == w.size(0)),
              "Linear bias of shape [{}] does not match weight [{}, {}]",
              b.defined() ? b.size(0) : 0, w.size(0), w.size(1));
  weight = register_parameter("weight", w, /*requires_grad=*/false);
  if (b.defined()) bias = register_parameter("bias", b, /*requires_grad=*/false);
  in_features_ = w.size(1), out_features_ = w.size(0);
}

LinearImpl::LinearImpl(std::shared_ptr<const QuantizedTensor> w, torch::Tensor b) : quantized_(std::move(w)) {
  E2LLM_CHECK(quantized_ && quantized_matmul_supports(quantized_->type),
              "Linear: no quantized kernel for these weights");
  in_features_ = quantized_->cols, out_features_ = quantized_->rows;
  E2LLM_CHECK(!b.defined() || (b.dim() == 1 && b.size(0) == out_features_),
              "Linear bias of shape [{}] does not match quantized weight [{}, {}]", b.defined() ? b.size(0) : 0,
              out_features_, in_features_);
  if (b.defined()) bias = register_parameter("bias", b, /*requires_grad=*/false);
}

namespace {
// y = x·Wᵀ + b. bf16 on a CPU where LibTorch's bf16 GEMM is its scalar
// fallback: convert to float32 for the product (the weight conversion costs a
// pass over W, far less than the product at encoder batch sizes) and back.
torch::Tensor base_linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  if (weight.scalar_type() != torch::kBFloat16 || !weight.device().is_cpu() || bf16_matmul_native())
    return torch::nn::functional::linear(x, weight, bias);
  const torch::Tensor b = bias.defined() ? bias.to(torch::kFloat32) : bias;
  return torch::nn::functional::linear(x.to(torch::kFloat32), weight.to(torch::kFloat32), b).to(x.scalar_type());
}
}  // namespace

torch::Tensor LinearImpl::base_forward(const torch::Tensor& x) {
  if (!quantized_) return base_linear(x, weight, bias);
  check_no_gradient(x);
  return finish_quantized(x, quantized_linear(x, *quantized_));
}

void LinearImpl::check_no_gradient(const torch::Tensor& x) const {
  E2LLM_CHECK(!(torch::GradMode::is_enabled() && x.requires_grad()),
              "a gradient cannot flow through quantized weights; load the model with float32 or bfloat16 "
              "weights to train it");
}

torch::Tensor LinearImpl::finish_quantized(const torch::Tensor& x, torch::Tensor y) const {
  if (bias.defined()) y.add_(as_type(bias, y.scalar_type()));
  return as_type(y, x.scalar_type());
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) { return with_adapter(x, base_forward(x)); }

// Decoding: a few float32 rows on the CPU, no gradient, no dropout: the side
// path adds into y in place on raw memory (nn/lora_side_path.h says why).
bool LinearImpl::side_path_in_place_applies(const torch::Tensor& x, const torch::Tensor& y) const {
  const torch::Tensor &a = lora_A->weight, &b = lora_B->weight;
  const bool grad = torch::GradMode::is_enabled() && (x.requires_grad() || a.requires_grad() || b.requires_grad());
  const bool dropout = dropout_ > 0 && is_training();
  if (grad || dropout) return false;
  for (const torch::Tensor* t : {&x, &y, &a, &b})
    if (!t->device().is_cpu() || t->scalar_type() != torch::kFloat32 || !t->is_contiguous()) return false;
  const int64_t rows = x.numel() / in_features_;
  return x.size(-1) == in_features_ && y.size(-1) == out_features_ && y.numel() / out_features_ == rows &&
         rows <= detail::kSidePathMaxRows;
}

torch::Tensor LinearImpl::with_adapter(const torch::Tensor& x, torch::Tensor y) {
  if (!has_lora() || merged_) return y;
  if (in_features_ > 0 && side_path_in_place_applies(x, y)) {
    const torch::Tensor &a = lora_A->weight, &b = lora_B->weight;
    detail::add_lora_side_path(x.data_ptr<float>(), x.numel() / in_features_, in_features_, a.data_ptr<float>(),
                               a.size(0), b.data_ptr<float>(), out_features_, static_cast<float>(scaling_),
                               y.data_ptr<float>(), detail::best_side_path_kernel());
    return y;
  }
  torch::Tensor h = dropout_ > 0 ? torch::dropout(x, dropout_, is_training()) : x;
  // The adapter runs in its own dtype (fp32 master weights) and is cast back.
  torch::Tensor down = lora_A->forward(h.to(lora_A->weight.scalar_type()));
  if (y.scalar_type() == down.scalar_type()) {
    // y + down·(scaling·B)ᵀ as one product that adds into a copy of y: the
    // [.., out] delta is never written, scaled and added apart (in training,
    // three passes over activations as large as the layer's output, each way).
    const torch::Tensor up = (lora_B->weight * scaling_).t();
    return torch::addmm(y.reshape({-1, y.size(-1)}), down.reshape({-1, down.size(-1)}), up).view(y.sizes());
  }
  return y + lora_B->forward(down).mul(scaling_).to(y.scalar_type());
}

std::vector<torch::Tensor> forward_together(const std::vector<LinearImpl*>& layers, const torch::Tensor& x) {
  std::vector<const QuantizedTensor*> weights;
  for (LinearImpl* layer : layers)
    if (layer->quantized()) weights.push_back(layer->quantized());
  std::vector<torch::Tensor> ys;
  if (weights.size() < 2 || weights.size() != layers.size()) {
    for (LinearImpl* layer : layers) ys.push_back(layer->forward(x));
    return ys;
  }
  layers.front()->check_no_gradient(x);
  ys = quantized_linears(x, weights);
  for (size_t i = 0; i < layers.size(); ++i)
    ys[i] = layers[i]->with_adapter(x, layers[i]->finish_quantized(x, std::move(ys[i])));
  return ys;
}

void LinearImpl::attach_lora(const LoraConfig& config) {
  E2LLM_CHECK(!has_lora(), "a LoRA adapter is already attached to this layer");
  E2LLM_CHECK(config.rank > 0, "LoRA rank must be positive, got {}", config.rank);
  E2LLM_CHECK(config.dropout >= 0 && config.dropout < 1, "LoRA dropout must be in [0, 1), got {}",
              config.dropout);
  auto options = torch::nn::LinearOptions(in_features(), config.rank).bias(false);
  lora_A = register_module("lora_A", torch::nn::Linear(options));
  lora_B = register_module("lora_B",
                           torch::nn::Linear(torch::nn::LinearOptions(config.rank, out_features()).bias(false)));
  // PEFT's default init: A ~ kaiming_uniform(a=sqrt(5)) (torch::nn::Linear's
  // own init), B = 0, so an attached adapter starts as the identity.
  torch::NoGradGuard no_grad;
  lora_B->weight.zero_();
  const torch::Device device = quantized_ ? torch::Device(torch::kCPU) : weight.device();
  lora_A->to(device);
  lora_B->to(device);
  scaling_ = config.scaling();
  dropout_ = config.dropout;
}

void LinearImpl::merge() {
  if (!has_lora() || merged_ || quantized_) return;
  torch::NoGradGuard no_grad;
  weight.add_((torch::mm(lora_B->weight, lora_A->weight) * scaling_).to(weight.scalar_type()));
  merged_ = true;
}

void LinearImpl::unmerge() {
  if (!has_lora() || !merged_) return;
  torch::NoGradGuard no_grad;
  weight.sub_((torch::mm(lora_B->weight, lora_A->weight) * scaling_).to(weight.scalar_type()));
  merged_ = false;
}

namespace {

bool matches_target(const std::string& name, const std::vector<std::string>& targets) {
  if (targets.empty()) return true;
  for (const auto& t : targets) {
    if (name == t) return true;
    if (name.size() > t.size() && name.compare(name.size() - t.size(), t.size(), t) == 0 &&
        name[name.size() - t.size() - 1] == '.')
      return true;
  }
  return false;
}

}  // namespace

std::vector<std::pair<std::string, Linear>> named_linears(torch::nn::Module& root) {
  std::vector<std::pair<std::string, Linear>> out;
  for (const auto& item : root.named_modules("", /*include_self=*/false)) {
    if (auto linear = std::dynamic_pointer_cast<LinearImpl>(item.value()))
      out.emplace_back(item.key(), Linear(linear));
  }
  return out;
}

std::vector<std::string> apply_lora(torch::nn::Module& root, const LoraConfig& config) {
  std::vector<std::string> wrapped;
  for (auto& [name, linear] : named_linears(root)) {
    if (!matches_target(name, config.target_modules)) continue;
    linear->attach_lora(config);
    wrapped.push_back(name);
  }
  E2LLM_CHECK(!wrapped.empty(), "LoRA target modules [{}] match no linear layer of the model",
              fmt::format("{}", fmt::join(config.target_modules, ", ")));
  return wrapped;
}

void merge_lora(torch::nn::Module& root) {
  for (auto& [name, linear] : named_linears(root)) linear->merge();
}

void unmerge_lora(torch::nn::Module& root) {
  for (auto& [name, linear] : named_linears(root)) linear->unmerge();
}

std::map<std::string, torch::Tensor> lora_state(torch::nn::Module& root, const std::string& key_prefix) {
  std::map<std::string, torch::Tensor> out;
  for (auto& [name, linear] : named_linears(root)) {
    if (!linear->has_lora()) continue;
    out[key_prefix + name + ".lora_A.weight"] = linear->lora_A->weight;
    out[key_prefix + name + ".lora_B.weight"] = linear->lora_B->weight;
  }
  return out;
}

void save_peft_adapter(torch::nn::Module& root, const LoraConfig& config, const std::string& folder,
                       const std::string& base_model, const std::string& task_type) {
  auto state = lora_state(root);
  E2LLM_CHECK(!state.empty(), "{}: the model has no LoRA adapters to save", folder);
  std::filesystem::create_directories(folder);
  // PEFT's own set of target names (the last path component of each module).
  std::vector<std::string> targets = config.target_modules;
  if (targets.empty()) {
    std::set<std::string> leaves;
    for (auto& [name, linear] : named_linears(root))
      if (linear->has_lora()) leaves.insert(name.substr(name.rfind('.') + 1));
    targets.assign(leaves.begin(), leaves.end());
  }
  nlohmann::json cfg = {{"peft_type", "LORA"},
                        {"task_type", task_type},
                        {"r", config.rank},
                        {"lora_alpha", config.alpha},
                        {"lora_dropout", config.dropout},
                        {"use_rslora", config.use_rslora},
                        {"target_modules", targets},
                        {"bias", "none"},
                        {"fan_in_fan_out", false},
                        {"inference_mode", true},
                        {"init_lora_weights", true},
                        {"modules_to_save", nullptr},
                        {"base_model_name_or_path", base_model}};
  save_safetensors(folder + "/adapter_model.safetensors", state, {{"format", "pt"}});
  write_file_atomic(folder + "/adapter_config.json", cfg.dump(2) + "\n");
}

namespace {

LoraConfig parse_adapter_config(const std::string& path) {
  const nlohmann::json j = read_json_file(path);
  const std::string peft_type = json_fields::value_or<std::string>(j, "peft_type", "LORA", path);
  E2LLM_CHECK(peft_type == "LORA", "{}: peft_type '{}' is not supported (only LORA)", path, peft_type);
  LoraConfig c;
  c.rank = json_fields::required<int64_t>(j, "r", path);
  E2LLM_CHECK(c.rank > 0, "{}: field 'r' must be positive, got {}", path, c.rank);
  c.alpha = json_fields::value_or<double>(j, "lora_alpha", 8.0, path);  // PEFT's default
  c.dropout = json_fields::value_or<double>(j, "lora_dropout", c.dropout, path);
  c.use_rslora = json_fields::value_or<bool>(j, "use_rslora", c.use_rslora, path);
  // One module name or a list of them.
  c.target_modules = json_fields::one_or_list<std::string>(json_fields::field(j, "target_modules", path),
                                                          json_fields::Where(path, "target_modules"));
  E2LLM_CHECK(!json_fields::value_or<bool>(j, "fan_in_fan_out", false, path),
              "{}: fan_in_fan_out adapters are not supported", path);
  const std::string bias = json_fields::value_or<std::string>(j, "bias", "none", path);
  E2LLM_CHECK(bias == "none", "{}: bias '{}' is not supported (only 'none')", path, bias);
  return c;
}

}  // namespace

LoraConfig load_peft_adapter(torch::nn::Module& root, const std::string& folder) {
  const std::string config_path = folder + "/adapter_config.json";
  const std::string weights_path = folder + "/adapter_model.safetensors";
  LoraConfig config = parse_adapter_config(config_path);
  apply_lora(root, config);
  auto file = SafeTensorsFile::open(weights_path);
  auto expected = lora_state(root);
  std::set<std::string> seen;
  for (const auto& name : file->names()) {
    // PEFT writes keys without the adapter name; tolerate ".default" as older versions did.
    std::string key = name;
    for (const char* suffix : {".lora_A.default.weight", ".lora_B.default.weight"}) {
      auto pos = key.find(suffix);
      if (pos != std::string::npos) key = key.substr(0, pos) + std::string(suffix).replace(7, 8, "");
    }
    auto it = expected.find(key);
    E2LLM_CHECK(it != expected.end(),
                "{}: tensor '{}' matches no LoRA layer of this model (wrong base model or targets?)",
                weights_path, name);
    torch::Tensor value = file->get(name);
    E2LLM_CHECK(value.sizes() == it->second.sizes(), "{}: tensor '{}' has shape [{}], the model expects [{}]",
                weights_path, name, fmt::join(value.sizes().vec(), ", "),
                fmt::join(it->second.sizes().vec(), ", "));
    torch::NoGradGuard no_grad;
    it->second.copy_(value);
    seen.insert(key);
  }
  for (const auto& [key, tensor] : expected)
    E2LLM_CHECK(seen.count(key), "{}: adapter weight '{}' is missing", weights_path, key);
  return config;
}

std::vector<torch::Tensor> trainable_parameters(torch::nn::Module& root) {
  std::vector<torch::Tensor> out;
  for (auto& p : root.parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

}  // namespace e2llm::nn
