// CausalLM: loading, the forward entry points, soft-token assembly and the loss.
#include "e2llm/decoder/decoder.h"

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "e2llm/io/gguf.h"
#include "e2llm/io/model_files.h"
#include "decoder/decoder_blocks.h"

namespace e2llm {

// ---- segments -------------------------------------------------------------------

Segment Segment::tokens(std::vector<int64_t> ids, bool is_target) {
  Segment s;
  s.ids = std::move(ids);
  s.is_target = is_target;
  return s;
}

Segment Segment::soft(torch::Tensor embeddings) {
  Segment s;
  s.embeddings = std::move(embeddings);
  return s;
}

int64_t Segment::size() const { return embeddings.defined() ? embeddings.size(0) : static_cast<int64_t>(ids.size()); }

// ---- loading --------------------------------------------------------------------

namespace {

// Text-only checkpoints use "model."; Gemma 3 multimodal ones nest the language model.
std::string decoder_prefix(const Weights& weights) {
  for (const char* prefix : {"model.", "model.language_model.", "language_model.model."})
    if (weights.has(std::string(prefix) + "embed_tokens.weight")) return prefix;
  fail("no decoder weights found: none of model.embed_tokens.weight, model.language_model.embed_tokens.weight, "
       "language_model.model.embed_tokens.weight is present");
}

std::string lm_head_name(const Weights& weights) {
  for (const char* name : {"lm_head.weight", "language_model.lm_head.weight"})
    if (weights.has(name)) return name;
  return "";
}

}  // namespace

CausalLMImpl::CausalLMImpl(DecoderConfig config, const Weights& weights, const DecoderOptions& options)
    : config_(std::move(config)), options_(options), eos_token_ids_(config_.eos_token_ids) {
  E2LLM_CHECK(options.dtype == torch::kFloat32 || options.dtype == torch::kBFloat16,
              "decoder dtype must be float32 or bfloat16, got {}", c10::toString(options.dtype));
  config_.validate();
  nn::WeightLoader loader(weights, options.dtype, options.device, decoder_prefix(weights), options.keep_quantized);
  model_ = register_module("model", std::make_shared<detail::DecoderStackImpl>(config_, loader));
  std::string head = lm_head_name(weights);
  if (config_.tie_word_embeddings || head.empty()) {
    E2LLM_CHECK(config_.tie_word_embeddings, "lm_head.weight is missing and tie_word_embeddings is false");
    const auto& embed = *model_->embed_tokens;
    lm_head_ = embed.quantized ? nn::Linear(embed.quantized) : nn::Linear(embed.weight);
  } else {
    nn::WeightLoader root(weights, options.dtype, options.device, "", options.keep_quantized);
    const std::string module = head.substr(0, head.size() - std::string(".weight").size());
    lm_head_ = root.linear(module, config_.hidden_size, config_.vocab_size, /*bias=*/false);
  }
  register_module("lm_head", lm_head_);
}

CausalLM make_causal_lm(const DecoderConfig& config, const Weights& weights, const DecoderOptions& options) {
  return std::make_shared<CausalLMImpl>(config, weights, options);
}

namespace {

// transformers stops on generation_config.json's eos ids, which may add to config.json's.
void add_generation_eos(const std::string& folder, std::vector<int64_t>& eos) {
  const std::string path = folder + "/generation_config.json";
  if (!file_exists(path)) return;
  for (int64_t id : read_generation_config(path).eos_token_ids)
    if (std::find(eos.begin(), eos.end(), id) == eos.end()) eos.push_back(id);
}

}  // namespace

DecoderOptions decoder_options_for(const std::string& weights, const std::string& path, torch::Device device) {
  const bool gguf = std::filesystem::path(path).extension() == ".gguf";
  DecoderOptions options;
  options.device = device;
  if (weights == "auto") {
    options.keep_quantized = gguf && device.is_cpu();
  } else if (weights == "quantized") {
    E2LLM_CHECK(gguf, "--weights quantized needs a .gguf model; {} is not one (use float32 or bfloat16)", path);
    E2LLM_CHECK(device.is_cpu(), "--weights quantized runs on the CPU only; on {} use float32 or bfloat16",
                device.str());
    options.keep_quantized = true;
  } else if (weights == "bfloat16" || weights == "bf16") {
    options.dtype = torch::kBFloat16;
  } else {
    E2LLM_CHECK(weights == "float32" || weights == "fp32",
                "--weights '{}': choose auto, quantized, float32 or bfloat16", weights);
  }
  // Quantized inference reads its weights in 4-8 bits; a float32 cache would
  // then be half of what a step reads after ~2k positions (SmolLM2).
  if (options.keep_quantized) options.kv_cache_dtype = torch::kHalf;
  if (const char* env = std::getenv("E2LLM_KV_CACHE"); env && *env) {
    const std::string cache = env;
    E2LLM_CHECK(cache == "float16" || cache == "float32",
                "E2LLM_KV_CACHE='{}': expected float16 or float32 (unset: float16 for quantized weights)", cache);
    options.kv_cache_dtype = cache == "float16" ? torch::kHalf : torch::kFloat32;
  }
  return options;
}

CausalLM load_causal_lm(const std::string& path, const DecoderOptions& options) {
  namespace fs = std::filesystem;
  if (fs::path(path).extension() == ".gguf") {
    auto gguf = GgufFile::open(path);
    DecoderConfig config = DecoderConfig::from_json(gguf_to_hf_config(*gguf), path);
    auto weights = std::make_shared<GgufWeights>(std::move(gguf));  // one parse of the header
    auto lm = std::make_shared<CausalLMImpl>(config, *weights, options);
    lm->model_dir_ = fs::path(path).parent_path().string();
    lm->tokenizer_path_ = path;
    return lm;
  }
  E2LLM_CHECK(is_directory(path), "{}: not a model folder (config.json + safetensors) or a .gguf file", path);
  DecoderConfig config = DecoderConfig::from_file(path + "/config.json");
  auto weights = open_weights(path);
  auto lm = std::make_shared<CausalLMImpl>(config, *weights, options);
  lm->model_dir_ = path;
  if (file_exists(path + "/tokenizer.json")) lm->tokenizer_path_ = path + "/tokenizer.json";
  add_generation_eos(path, lm->eos_token_ids_);
  return lm;
}

KvCache CausalLMImpl::new_cache(int64_t batch, int64_t capacity) const {
  return KvCache(config_.num_layers, batch, config_.num_kv_heads, capacity, config_.head_dim,
                 options_.kv_cache_dtype.value_or(options_.dtype), options_.device);
}

std::string CausalLMImpl::weights_description() const {
  std::map<std::string, int64_t> linear_types;
  int64_t linears = 0;
  for (auto& [name, linear] : nn::named_linears(const_cast<CausalLMImpl&>(*this))) {
    ++linears;
    if (linear->quantized()) ++linear_types[ggml_type_traits(linear->quantized()->type).name];
  }
  const std::string dtype = options_.dtype == torch::kBFloat16 ? "bfloat16" : "float32";
  if (linear_types.empty()) return dtype;
  std::vector<std::string> parts;
  for (const auto& [type, count] : linear_types) parts.push_back(fmt::format("{} x{}", type, count));
  int64_t quantized = 0;
  for (const auto& [type, count] : linear_types) quantized += count;
  if (quantized < linears) parts.push_back(fmt::format("{} x{}", dtype, linears - quantized));
  const auto& embed = model_->embed_tokens;
  const torch::ScalarType cache = options_.kv_cache_dtype.value_or(options_.dtype);
  return fmt::format("quantized (linear layers: {}; embeddings: {}; KV cache: {})", fmt::join(parts, ", "),
                     embed->quantized ? ggml_type_traits(embed->quantized->type).name : dtype,
                     cache == torch::kHalf ? "float16" : cache == torch::kBFloat16 ? "bfloat16" : "float32");
}

// ---- forward --------------------------------------------------------------------

torch::Tensor CausalLMImpl::embed(const torch::Tensor& ids) {
  E2LLM_CHECK(ids.scalar_type() == torch::kInt64, "token ids must be int64, got {}", c10::toString(ids.scalar_type()));
  if (ids.numel() > 0) {
    int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    E2LLM_CHECK(lo >= 0 && hi < config_.vocab_size, "token id {} outside the vocabulary of {}",
                lo < 0 ? lo : hi, config_.vocab_size);
  }
  torch::Tensor e = model_->embed_tokens->lookup(ids, options_.dtype);
  // Gemma scales in the weight dtype, as transformers does.
  if (config_.embedding_scale != 1.0) e = e * torch::scalar_tensor(config_.embedding_scale).to(e.scalar_type());
  return e;
}

torch::Tensor CausalLMImpl::hidden_states(const torch::Tensor& embeddings, const torch::Tensor& attention_mask,
                                          const torch::Tensor& positions, KvCache* cache) {
  E2LLM_CHECK(embeddings.dim() == 3 && embeddings.size(2) == config_.hidden_size,
              "decoder input must be [batch, tokens, {}], got {}", config_.hidden_size,
              fmt::format("{}", fmt::join(embeddings.sizes().vec(), "x")));
  int64_t B = embeddings.size(0), T = embeddings.size(1);
  auto device = embeddings.device();
  torch::Tensor valid = attention_mask.defined() ? attention_mask.to(device).to(torch::kBool)
                                                 : torch::ones({B, T}, torch::dtype(torch::kBool).device(device));
  E2LLM_CHECK(valid.sizes() == torch::IntArrayRef({B, T}), "attention mask must be [{}, {}]", B, T);
  torch::Tensor pos = positions;
  if (pos.defined()) {
    E2LLM_CHECK(pos.sizes() == torch::IntArrayRef({B, T}), "positions must be [{}, {}]", B, T);
    pos = pos.to(device).to(torch::kInt64);
  } else {
    // Each valid token's position counts the valid tokens before it (as
    // transformers' generate does for left padding), after what the cache holds.
    torch::Tensor base = cache ? cache->lengths().unsqueeze(1) : torch::zeros({B, 1}, torch::dtype(torch::kInt64).device(device));
    pos = torch::maximum(base + valid.to(torch::kInt64).cumsum(1) - 1, base);
  }
  torch::Tensor x = embeddings.to(options_.dtype);
  return model_->forward(x, valid, pos, cache, options_.activation_checkpointing && is_training());
}

torch::Tensor CausalLMImpl::logits(const torch::Tensor& hidden) {
  torch::Tensor out = lm_head_->forward(hidden);
  if (config_.final_logit_softcapping) {
    double cap = *config_.final_logit_softcapping;
    out = torch::tanh(out / cap) * cap;
  }
  return out;
}

torch::Tensor CausalLMImpl::forward(const torch::Tensor& embeddings, const torch::Tensor& attention_mask,
                                    const torch::Tensor& positions, KvCache* cache, LogitsFor which) {
  torch::Tensor h = hidden_states(embeddings, attention_mask, positions, cache);
  if (which == LogitsFor::All) return logits(h);
  // Only each row's last valid token: saves the [T, vocab] head matmul in prefill.
  int64_t T = h.size(1);
  torch::Tensor valid = attention_mask.defined() ? attention_mask.to(h.device()).to(torch::kInt64)
                                                 : torch::ones({h.size(0), T}, torch::dtype(torch::kInt64).device(h.device()));
  torch::Tensor last = (valid * torch::arange(T, valid.options())).argmax(1);  // [B]
  torch::Tensor picked = h.gather(1, last.view({-1, 1, 1}).expand({h.size(0), 1, h.size(2)})).squeeze(1);
  return logits(picked);
}

torch::Tensor CausalLMImpl::forward_ids(const torch::Tensor& ids, const torch::Tensor& attention_mask,
                                        const torch::Tensor& positions, KvCache* cache, LogitsFor which) {
  E2LLM_CHECK(ids.dim() == 2, "token ids must be [batch, tokens], got {} dims", ids.dim());
  return forward(embed(ids), attention_mask, positions, cache, which);
}

torch::Tensor CausalLMImpl::forward_step(const torch::Tensor& ids, KvCache& cache) {
  E2LLM_CHECK(ids.dim() == 1, "forward_step takes ids [batch], got {} dims", ids.dim());
  return forward_ids(ids.view({-1, 1}), {}, {}, &cache, LogitsFor::Last);
}

// ---- soft tokens ----------------------------------------------------------------

AssembledBatch CausalLMImpl::assemble(const std::vector<std::vector<Segment>>& batch, Padding padding) {
  E2LLM_CHECK(!batch.empty(), "assemble() needs at least one sequence");
  auto device = model_->embed_tokens->device();
  std::vector<torch::Tensor> rows, labels;
  AssembledBatch out;
  for (size_t b = 0; b < batch.size(); ++b) {
    std::vector<torch::Tensor> parts, part_labels;
    for (size_t s = 0; s < batch[b].size(); ++s) {
      const Segment& seg = batch[b][s];
      if (seg.embeddings.defined()) {
        E2LLM_CHECK(seg.embeddings.dim() == 2 && seg.embeddings.size(1) == config_.hidden_size,
                    "sequence {} segment {}: soft tokens must be [n, {}], got {}", b, s, config_.hidden_size,
                    fmt::format("{}", fmt::join(seg.embeddings.sizes().vec(), "x")));
        E2LLM_CHECK(seg.embeddings.is_floating_point(), "sequence {} segment {}: soft tokens must be float", b, s);
        parts.push_back(seg.embeddings.to(device).to(options_.dtype));
        part_labels.push_back(torch::full({seg.embeddings.size(0)}, -100, torch::kInt64));
      } else {
        torch::Tensor ids = torch::tensor(seg.ids, torch::kInt64);
        parts.push_back(embed(ids.unsqueeze(0)).squeeze(0));
        part_labels.push_back(seg.is_target ? ids : torch::full({ids.size(0)}, -100, torch::kInt64));
      }
    }
    torch::Tensor row = parts.empty() ? torch::zeros({0, config_.hidden_size}, torch::dtype(options_.dtype).device(device))
                                      : torch::cat(parts, 0);
    rows.push_back(row);
    labels.push_back(part_labels.empty() ? torch::zeros({0}, torch::kInt64) : torch::cat(part_labels, 0));
    out.lengths.push_back(row.size(0));
  }
  int64_t B = static_cast<int64_t>(batch.size());
  int64_t T = *std::max_element(out.lengths.begin(), out.lengths.end());
  E2LLM_CHECK(T > 0, "assemble(): every sequence is empty");
  std::vector<torch::Tensor> padded;
  out.attention_mask = torch::zeros({B, T}, torch::kBool);
  out.positions = torch::zeros({B, T}, torch::kInt64);
  out.labels = torch::full({B, T}, -100, torch::kInt64);
  for (int64_t b = 0; b < B; ++b) {
    int64_t n = out.lengths[b], pad = T - n;
    int64_t start = padding == Padding::Left ? pad : 0;
    torch::Tensor zeros = torch::zeros({pad, config_.hidden_size}, rows[b].options());
    padded.push_back(padding == Padding::Left ? torch::cat({zeros, rows[b]}) : torch::cat({rows[b], zeros}));
    out.attention_mask[b].narrow(0, start, n).fill_(true);
    out.positions[b].narrow(0, start, n).copy_(torch::arange(n, torch::kInt64));
    out.labels[b].narrow(0, start, n).copy_(labels[b]);
  }
  out.embeddings = torch::stack(padded);
  out.attention_mask = out.attention_mask.to(device);
  out.positions = out.positions.to(device);
  out.labels = out.labels.to(device);
  return out;
}

torch::Tensor CausalLMImpl::prefill(const std::vector<Segment>& segments, KvCache& cache) {
  E2LLM_CHECK(cache.batch_size() == 1, "prefill of one sequence needs a cache of batch 1, got {}", cache.batch_size());
  AssembledBatch a = assemble({segments}, Padding::Right);
  return forward(a.embeddings, a.attention_mask, {}, &cache, LogitsFor::Last);
}

torch::Tensor CausalLMImpl::prefill(const std::vector<std::vector<Segment>>& batch, KvCache& cache) {
  AssembledBatch a = assemble(batch, Padding::Left);
  return forward(a.embeddings, a.attention_mask, {}, &cache, LogitsFor::Last);
}

torch::Tensor CausalLMImpl::forward_segments(const AssembledBatch& batch) {
  return forward(batch.embeddings, batch.attention_mask, batch.positions, nullptr, LogitsFor::All);
}

torch::Tensor causal_lm_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  E2LLM_CHECK(logits.dim() == 3 && labels.dim() == 2 && logits.size(0) == labels.size(0) &&
                  logits.size(1) == labels.size(1),
              "causal_lm_loss needs logits [B, T, V] and labels [B, T]");
  int64_t T = logits.size(1);
  torch::Tensor predicted = logits.narrow(1, 0, T - 1).to(torch::kFloat32).reshape({-1, logits.size(2)});
  torch::Tensor targets = labels.narrow(1, 1, T - 1).reshape({-1}).to(logits.device());
  return torch::nn::functional::cross_entropy(
      predicted, targets, torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
}

}  // namespace e2llm
