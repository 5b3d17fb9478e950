// GgufWeights: a GGUF file under Hugging Face tensor names, shapes and values,
// matching what transformers' load_gguf_checkpoint() produces.
#include <regex>
#include <torch/torch.h>

#include "e2llm/core/error.h"
#include "e2llm/io/gguf.h"

namespace e2llm {

namespace {

bool is_gemma(const std::string& arch) { return arch == "gemma2" || arch == "gemma3"; }

// Block-level llama.cpp names -> HF module names (inside model.layers.N.).
// ffn_norm differs: Gemma 2/3 have four norms per layer, Llama two.
std::string hf_block_module(const std::string& arch, const std::string& m) {
  static const std::map<std::string, std::string> kCommon = {
      {"attn_norm", "input_layernorm"},       {"attn_q", "self_attn.q_proj"},
      {"attn_k", "self_attn.k_proj"},         {"attn_v", "self_attn.v_proj"},
      {"attn_output", "self_attn.o_proj"},    {"attn_q_norm", "self_attn.q_norm"},
      {"attn_k_norm", "self_attn.k_norm"},    {"ffn_gate", "mlp.gate_proj"},
      {"ffn_up", "mlp.up_proj"},              {"ffn_down", "mlp.down_proj"},
      {"post_attention_norm", "post_attention_layernorm"},
      {"post_ffw_norm", "post_feedforward_layernorm"},
  };
  if (m == "ffn_norm") return is_gemma(arch) ? "pre_feedforward_layernorm" : "post_attention_layernorm";
  auto it = kCommon.find(m);
  return it == kCommon.end() ? "" : it->second;
}

std::string hf_top_module(const std::string& m) {
  if (m == "token_embd") return "model.embed_tokens";
  if (m == "output_norm") return "model.norm";
  if (m == "output") return "lm_head";
  return "";
}

// Undoes convert_hf_to_gguf.py's LlamaModel.permute(), which interleaves the
// two rotary halves of each head's rows: rows were reshaped (heads, 2, hd/2)
// and swapped to (heads, hd/2, 2); here (heads, hd/2, 2) -> (heads, 2, hd/2).
torch::Tensor unpermute_rows(const torch::Tensor& w, int64_t n_head, const std::string& name) {
  const int64_t rows = w.size(0);
  E2LLM_CHECK(n_head > 0 && rows % (2 * n_head) == 0,
              "tensor '{}' has {} rows, not a multiple of 2 x {} heads", name, rows, n_head);
  std::vector<int64_t> split = {n_head, rows / n_head / 2, 2};
  for (int64_t d = 1; d < w.dim(); ++d) split.push_back(w.size(d));
  return w.reshape(split).transpose(1, 2).reshape(w.sizes()).contiguous();
}

}  // namespace

std::string gguf_to_hf_tensor_name(const std::string& arch, const std::string& gguf_name) {
  static const std::regex kBlock(R"(blk\.(\d+)\.([a-z_0-9]+)\.(weight|bias))");
  static const std::regex kTop(R"(([a-z_0-9]+)\.(weight|bias))");
  std::smatch m;
  if (std::regex_match(gguf_name, m, kBlock)) {
    const std::string module = hf_block_module(arch, m[2]);
    if (module.empty()) return "";
    return fmt::format("model.layers.{}.{}.{}", m[1].str(), module, m[3].str());
  }
  if (std::regex_match(gguf_name, m, kTop)) {
    const std::string module = hf_top_module(m[1]);
    return module.empty() ? "" : module + "." + m[2].str();
  }
  return "";
}

std::shared_ptr<GgufWeights> GgufWeights::open(const std::string& path) {
  return std::make_shared<GgufWeights>(GgufFile::open(path));
}

GgufWeights::GgufWeights(std::shared_ptr<const GgufFile> file) : file_(std::move(file)) {
  arch_ = file_->has("general.architecture") ? file_->architecture() : "";
  for (const auto& t : file_->tensors()) {
    std::string hf = gguf_to_hf_tensor_name(arch_, t.name);
    if (hf.empty()) hf = t.name;  // unmapped tensors stay reachable under their own name
    E2LLM_CHECK(hf_to_gguf_.emplace(hf, t.name).second,
                "{}: tensors '{}' and '{}' both map to '{}'", file_->path(), hf_to_gguf_[hf],
                t.name, hf);
  }
}

const GgufTensorInfo& GgufWeights::info(const std::string& hf_name) const {
  auto it = hf_to_gguf_.find(hf_name);
  E2LLM_CHECK(it != hf_to_gguf_.end(), "{}: no tensor named '{}'", file_->path(), hf_name);
  return *file_->find_tensor(it->second);
}

bool GgufWeights::has(const std::string& name) const { return hf_to_gguf_.count(name) > 0; }

torch::Tensor GgufWeights::get(const std::string& name) const {
  const GgufTensorInfo& t = info(name);
  torch::Tensor w = file_->load_tensor(t.name);
  if (int64_t heads = permuted_heads(t)) w = unpermute_rows(w, heads, t.name);
  // convert_hf_to_gguf.py stores Gemma's RMSNorm weights as 1 + w.
  if (is_gemma(arch_) && t.name.find("norm.weight") != std::string::npos)
    w = w.to(torch::kFloat32) - 1;
  return w;
}

int64_t GgufWeights::permuted_heads(const GgufTensorInfo& t) const {
  const bool q = t.name.find(".attn_q.") != std::string::npos;
  const bool k = t.name.find(".attn_k.") != std::string::npos;
  if (arch_ != "llama" || !(q || k)) return 0;
  // K has head_count_kv heads; llama.cpp defaults that to head_count.
  const bool own_kv = k && file_->has("llama.attention.head_count_kv");
  return file_->get_int(own_kv ? "llama.attention.head_count_kv" : "llama.attention.head_count");
}

std::optional<QuantizedTensor> GgufWeights::quantized(const std::string& name) const {
  const GgufTensorInfo& t = info(name);
  const GgmlTypeTraits& traits = ggml_type_traits(t.type);
  const bool float_type = t.type == GgmlType::F32 || t.type == GgmlType::F16 || t.type == GgmlType::BF16;
  if (float_type || t.dims.size() != 2 || t.dims[0] % traits.block_size != 0) return std::nullopt;
  QuantizedTensor q;
  q.type = t.type;
  q.data = file_->tensor_data(t);
  q.rows = static_cast<int64_t>(t.dims[1]);
  q.cols = static_cast<int64_t>(t.dims[0]);
  q.owner = file_;
  if (int64_t heads = permuted_heads(t)) {
    // The same permutation get() undoes on the values, applied to row numbers.
    torch::Tensor order = unpermute_rows(torch::arange(q.rows, torch::kInt64).unsqueeze(1), heads, t.name);
    q.row_order.assign(order.data_ptr<int64_t>(), order.data_ptr<int64_t>() + q.rows);
  }
  return q;
}

std::vector<std::string> GgufWeights::names() const {
  std::vector<std::string> out;
  out.reserve(hf_to_gguf_.size());
  for (const auto& [hf, gguf] : hf_to_gguf_) out.push_back(hf);
  return out;
}

TensorMeta GgufWeights::meta(const std::string& name) const {
  const GgufTensorInfo& t = info(name);
  return {name, ggml_type_traits(t.type).name, t.shape()};
}

std::map<std::string, std::string> GgufWeights::metadata() const {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : file_->metadata()) out[key] = value.to_text();
  return out;
}

}  // namespace e2llm
