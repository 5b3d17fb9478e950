#include "e2llm/compress/pooling.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "e2llm/io/safetensors.h"
#include "io/json_fields.h"

namespace e2llm {

std::optional<PoolingConfig> read_sentence_transformers_pooling(const std::string& folder) {
  const std::string modules_path = folder + "/modules.json";
  if (!file_exists(modules_path)) return std::nullopt;
  const nlohmann::json modules = read_json_file(modules_path);
  E2LLM_CHECK(modules.is_array(), "{}: expected a JSON array of modules", modules_path);
  std::optional<PoolingConfig> pooling;
  bool normalize = false;
  for (size_t i = 0; i < modules.size(); ++i) {
    const json_fields::Where module = json_fields::Where(modules_path).index(i);
    const std::string type = json_fields::value_or<std::string>(modules[i], "type", "", module);
    if (type.ends_with(".Normalize")) normalize = true;
    if (!type.ends_with(".Pooling")) continue;
    const std::string config_path =
        folder + "/" + json_fields::value_or<std::string>(modules[i], "path", "", module) + "/config.json";
    const nlohmann::json c = read_json_file(config_path);
    auto on = [&](const char* key) { return json_fields::value_or<bool>(c, key, false, config_path); };
    for (const char* unsupported : {"pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
                                    "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"})
      E2LLM_CHECK(!on(unsupported), "{}: '{}' pooling is not supported (cls and mean are)", config_path,
                  unsupported);
    E2LLM_CHECK(on("pooling_mode_cls_token") != on("pooling_mode_mean_tokens"),
                "{}: expected exactly one of pooling_mode_cls_token and pooling_mode_mean_tokens", config_path);
    PoolingConfig p;
    p.mode = on("pooling_mode_cls_token") ? PoolingMode::kCls : PoolingMode::kMean;
    pooling = p;
  }
  E2LLM_CHECK(pooling.has_value(), "{}: lists no Pooling module", modules_path);
  pooling->normalize = normalize;
  return pooling;
}

std::optional<int64_t> read_sentence_transformers_max_length(const std::string& folder) {
  const std::string path = folder + "/sentence_bert_config.json";
  if (!file_exists(path)) return std::nullopt;
  const std::optional<int64_t> length = json_fields::optional<int64_t>(read_json_file(path), "max_seq_length", path);
  E2LLM_CHECK(!length || *length > 0, "{}: max_seq_length must be a positive integer, got {}", path, *length);
  return length;
}

torch::Tensor cls_pool(const torch::Tensor& hidden) { return hidden.slice(1, 0, 1); }

torch::Tensor mean_pool(const torch::Tensor& hidden, const torch::Tensor& mask) {
  torch::Tensor m = mask.unsqueeze(-1).to(hidden.scalar_type());
  torch::Tensor count = m.sum(1).clamp_min(1e-9);
  return ((hidden * m).sum(1) / count).unsqueeze(1);
}

torch::Tensor segment_mean_pool(const torch::Tensor& hidden, const torch::Tensor& mask, int64_t k) {
  E2LLM_CHECK(k >= 1, "segment pooling needs k >= 1, got {}", k);
  auto long_opts = torch::TensorOptions().dtype(torch::kLong).device(hidden.device());
  torch::Tensor n = mask.sum(1).to(torch::kLong).view({-1, 1});   // real tokens per chunk [B, 1]
  torch::Tensor j = torch::arange(k, long_opts).view({1, k});
  torch::Tensor begin = torch::div(j * n, k, "floor");             // [B, k]
  torch::Tensor end = torch::maximum(torch::div((j + 1) * n, k, "floor"), begin + 1);
  // Real tokens are counted in order, so padding anywhere is skipped.
  torch::Tensor rank = mask.to(torch::kLong).cumsum(1) - 1;        // index among real tokens [B, T]
  torch::Tensor real = mask.ne(0).unsqueeze(1);                    // [B, 1, T]
  torch::Tensor r = rank.unsqueeze(1);
  torch::Tensor in_segment = real & r.ge(begin.unsqueeze(2)) & r.lt(end.unsqueeze(2));  // [B, k, T]
  torch::Tensor weights = in_segment.to(hidden.scalar_type());
  weights = weights / weights.sum(-1, /*keepdim=*/true).clamp_min(1.0);
  return torch::bmm(weights, hidden);
}

AttentionPoolingImpl::AttentionPoolingImpl(int64_t hidden_size, int64_t k, int64_t heads) : heads_(heads) {
  E2LLM_CHECK(heads >= 1 && hidden_size % heads == 0,
              "attention pooling heads ({}) must divide the hidden size ({})", heads, hidden_size);
  seeds = register_parameter("seeds", torch::empty({k, hidden_size}));
  torch::nn::init::xavier_uniform_(seeds);
  fc_q = register_module("fc_q", torch::nn::Linear(hidden_size, hidden_size));
  fc_k = register_module("fc_k", torch::nn::Linear(hidden_size, hidden_size));
  fc_v = register_module("fc_v", torch::nn::Linear(hidden_size, hidden_size));
  fc_o = register_module("fc_o", torch::nn::Linear(hidden_size, hidden_size));
  ln0 = register_module("ln0", torch::nn::LayerNorm(torch::nn::LayerNormOptions({hidden_size})));
  ln1 = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({hidden_size})));
}

torch::Tensor AttentionPoolingImpl::forward(const torch::Tensor& hidden, const torch::Tensor& mask) {
  const int64_t batch = hidden.size(0), length = hidden.size(1), dim = hidden.size(2);
  const int64_t k = seeds.size(0), d = dim / heads_;
  torch::Tensor z = hidden.to(seeds.scalar_type());
  torch::Tensor q = fc_q(seeds).unsqueeze(0).expand({batch, k, dim});                 // [B, k, H]
  torch::Tensor qh = q.reshape({batch, k, heads_, d}).transpose(1, 2);                // [B, h, k, d]
  torch::Tensor kh = fc_k(z).view({batch, length, heads_, d}).permute({0, 2, 3, 1});  // [B, h, d, T]
  torch::Tensor vh = fc_v(z).view({batch, length, heads_, d}).transpose(1, 2);        // [B, h, T, d]
  torch::Tensor scores = torch::matmul(qh, kh) / std::sqrt(static_cast<double>(d));
  scores = scores.masked_fill(mask.eq(0).view({batch, 1, 1, length}), -std::numeric_limits<float>::infinity());
  torch::Tensor context = torch::matmul(torch::softmax(scores, -1), vh).transpose(1, 2).reshape({batch, k, dim});
  torch::Tensor h1 = ln0(q + context);
  return ln1(h1 + torch::relu(fc_o(h1)));
}

PoolerImpl::PoolerImpl(PoolingConfig config, int64_t hidden_size)
    : config_(config), hidden_size_(hidden_size) {
  config_.validate(hidden_size);
  if (config_.mode == PoolingMode::kAttention)
    pma = register_module("pma", AttentionPooling(hidden_size, config_.k, config_.heads));
}

torch::Tensor PoolerImpl::forward(const torch::Tensor& hidden, const torch::Tensor& mask) {
  E2LLM_CHECK(hidden.dim() == 3 && hidden.size(2) == hidden_size_,
              "pooler for hidden size {} got token states of shape [{}]", hidden_size_,
              fmt::join(hidden.sizes(), ", "));
  torch::Tensor out;
  switch (config_.mode) {
    case PoolingMode::kCls: out = cls_pool(hidden); break;
    case PoolingMode::kMean: out = mean_pool(hidden.to(torch::kFloat32), mask); break;
    case PoolingMode::kSegments: out = segment_mean_pool(hidden.to(torch::kFloat32), mask, config_.k); break;
    case PoolingMode::kAttention: out = pma(hidden, mask); break;
  }
  out = out.to(torch::kFloat32);
  if (config_.normalize) out = torch::nn::functional::normalize(out, torch::nn::functional::NormalizeFuncOptions().dim(-1));
  return out;
}

void save_pooler(Pooler& pooler, const std::string& path) {
  const PoolingConfig& c = pooler->config();
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : pooler->named_parameters()) tensors[item.key()] = item.value().detach();
  std::map<std::string, std::string> metadata = {{"format", "pt"},
                                                 {"e2llm.pooling", pooling_mode_name(c.mode)},
                                                 {"e2llm.k", std::to_string(c.k)},
                                                 {"e2llm.heads", std::to_string(c.heads)},
                                                 {"e2llm.normalize", c.normalize ? "true" : "false"},
                                                 {"e2llm.hidden_size", std::to_string(pooler->hidden_size())}};
  if (tensors.empty()) tensors["e2llm.none"] = torch::zeros({0});  // safetensors needs a tensor
  save_safetensors(path, tensors, metadata);
}

Pooler load_pooler(const std::string& path) {
  auto file = SafeTensorsFile::open(path);
  const auto meta = file->metadata();
  auto get = [&](const char* key) {
    auto it = meta.find(key);
    E2LLM_CHECK(it != meta.end(), "{}: metadata lacks '{}' (not a pooler saved by e2llm)", path, key);
    return it->second;
  };
  PoolingConfig c;
  c.mode = parse_pooling_mode(get("e2llm.pooling"));
  c.k = std::stoll(get("e2llm.k"));
  c.heads = std::stoll(get("e2llm.heads"));
  c.normalize = get("e2llm.normalize") == "true";
  Pooler pooler(c, std::stoll(get("e2llm.hidden_size")));
  torch::NoGradGuard no_grad;
  for (auto& item : pooler->named_parameters()) {
    E2LLM_CHECK(file->has(item.key()), "{}: missing pooler tensor '{}'", path, item.key());
    torch::Tensor t = file->get(item.key());
    E2LLM_CHECK(t.sizes() == item.value().sizes(), "{}: pooler tensor '{}' has shape [{}], expected [{}]",
                path, item.key(), fmt::join(t.sizes(), ", "), fmt::join(item.value().sizes(), ", "));
    item.value().copy_(t);
  }
  return pooler;
}

}  // namespace e2llm
