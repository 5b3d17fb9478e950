// The E2LLM model: chunk -> encode (+LoRA) -> pool -> adapt -> decoder (+LoRA).
#include "e2llm/e2llm/e2llm_model.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <unordered_map>

#include "e2llm/compress/adapter.h"
#include "e2llm/core/error.h"
#include "e2llm/core/runtime.h"
#include "e2llm/core/strings.h"
#include "e2llm/encoder/encoder.h"
#include "e2llm/generate/generate.h"
#include "e2llm/io/checkpoint.h"
#include "e2llm/io/fs.h"
#include "e2llm/io/model_cache.h"
#include "e2llm/io/weights.h"
#include "e2llm/nn/lora.h"
#include "e2llm/tokenizer/tokenizer.h"

namespace e2llm {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Everything loaded from a base model is frozen; only LoRA factors may train.
void freeze_base(torch::nn::Module& root) {
  for (auto& p : root.named_parameters(true))
    if (p.key().find("lora_") == std::string::npos) p.value().requires_grad_(false);
}

void set_lora_trainable(torch::nn::Module& root, bool trainable) {
  for (auto& [name, linear] : nn::named_linears(root)) {
    if (!linear->has_lora()) continue;
    linear->lora_A->weight.requires_grad_(trainable);
    linear->lora_B->weight.requires_grad_(trainable);
  }
}

void attach_lora(torch::nn::Module& root, int64_t rank, const E2llmConfig& c,
                 const std::vector<std::string>& targets, bool trainable) {
  if (rank <= 0) return;
  nn::LoraConfig lora;
  lora.rank = rank;
  lora.alpha = c.lora_alpha;
  lora.dropout = c.lora_dropout;
  lora.target_modules = targets;
  nn::apply_lora(root, lora);
  set_lora_trainable(root, trainable);
}

// LoRA factors under "<prefix>base_model.model.<module path>.lora_{A,B}.weight".
void add_lora_tensors(torch::nn::Module& root, const std::string& prefix,
                      std::vector<std::pair<std::string, torch::Tensor>>& out) {
  for (auto& [name, t] : nn::lora_state(root, prefix + "base_model.model.")) out.emplace_back(name, t);
}

nlohmann::json model_config_json(const std::string& path, const nlohmann::json& fallback) {
  std::string file = is_directory(path) ? path + "/config.json" : "";
  return !file.empty() && file_exists(file) ? read_json_file(file) : fallback;
}

}  // namespace

struct E2llmModel::Parts {
  Adapter adapter{nullptr};
  Pooler pooler{nullptr};
  torch::Tensor marker_begin, marker_end;  // [decoder hidden] float32
  torch::Tensor pooled_mean, pooled_std;   // [encoder hidden] float32, frozen (standardize_pooled)
  std::vector<int64_t> prefix_ids;
  // Pooled vectors of frozen-encoder contexts, keyed by their chunk token ids.
  struct CachedContext {
    std::vector<std::vector<int64_t>> ids;
    torch::Tensor pooled;
  };
  std::unordered_multimap<size_t, CachedContext> pooled_cache;
  size_t pooled_cache_bytes = 0;
  int64_t pooled_cache_hits = 0;
  // The last context generate() read while frozen (inference), whose next
  // question continues its decoder state. Only the last: memory stays one
  // document's KV cache however many documents pass (evaluation asks a
  // document's questions one after another; the server keeps its own).
  std::vector<std::vector<int64_t>> last_read_ids;
  std::shared_ptr<const ReadDocument> last_read;

  CachedContext* find(const std::vector<std::vector<int64_t>>& ids);
  void forget() {
    pooled_cache.clear();
    pooled_cache_bytes = 0;
    last_read_ids.clear();
    last_read.reset();
  }
};

namespace {

size_t hash_chunks(const std::vector<std::vector<int64_t>>& ids) {
  size_t h = ids.size();
  for (const auto& chunk : ids)
    for (int64_t id : chunk) h = h * 1099511628211ULL ^ static_cast<size_t>(id);
  return h;
}

bool any_trainable(torch::nn::Module& module) {
  for (const torch::Tensor& p : module.parameters())
    if (p.requires_grad()) return true;
  return false;
}
}  // namespace

E2llmModel::Parts::CachedContext* E2llmModel::Parts::find(const std::vector<std::vector<int64_t>>& ids) {
  auto [first, last] = pooled_cache.equal_range(hash_chunks(ids));
  for (auto it = first; it != last; ++it)
    if (it->second.ids == ids) return &it->second;
  return nullptr;
}

E2llmModel::E2llmModel(E2llmConfig config, bool quantized_decoder)
    : config_(std::move(config)), device_(parse_device(config_.device)), parts_(std::make_unique<Parts>()) {
  E2LLM_CHECK(!quantized_decoder || device_.is_cpu(),
              "e2llm: a decoder on its quantized blocks runs on the CPU only, not on {} (use float32 or bfloat16 "
              "weights there)",
              device_.str());
  const torch::ScalarType dtype = torch_dtype(config_);
  // The config may name a base model in the model cache; it keeps the name.
  const std::string encoder_path = resolve_model_path(config_.encoder_path);
  const std::string decoder_path = resolve_model_path(config_.decoder_path);
  encoder_ = std::make_shared<TextEncoder>(TextEncoder::load(encoder_path, EncoderOptions{dtype, device_}));
  DecoderOptions decoder_options;
  decoder_options.dtype = dtype;
  decoder_options.device = device_;
  decoder_options.keep_quantized = quantized_decoder;
  decoder_options.activation_checkpointing = config_.activation_checkpointing;
  decoder_ = load_causal_lm(decoder_path, decoder_options);
  encoder_tokenizer_ = Tokenizer::from_file(encoder_path, TokenizerOptions{config_.encoder_split_digits});
  E2LLM_CHECK(!decoder_->tokenizer_path().empty(), "{}: the decoder has no tokenizer", decoder_path);
  decoder_tokenizer_ = Tokenizer::from_file(decoder_->tokenizer_path());

  // The encoder's own position limit (its config), less [CLS] and [SEP].
  const int64_t limit = encoder_->max_tokens() - 2;
  chunk_size_ = config_.chunker.chunk_size == 0 ? limit : config_.chunker.chunk_size;
  E2LLM_CHECK(chunk_size_ >= 1 && chunk_size_ <= limit,
              "model.chunk_size {} does not fit the encoder ({} tokens without [CLS]/[SEP])", chunk_size_, limit);
  spdlog::info("e2llm: encoder {} ({} tokens per chunk), decoder {}", encoder_path, chunk_size_, decoder_path);

  freeze_base(encoder_->module());
  freeze_base(*decoder_);
  attach_lora(encoder_->module(), config_.encoder_lora_rank, config_, config_.encoder_lora_targets,
              config_.train_encoder_lora);
  attach_lora(*decoder_, config_.decoder_lora_rank, config_, config_.decoder_lora_targets,
              config_.train_decoder_lora);
  encoder_->module().to(device_);  // the LoRA factors were made on the CPU
  decoder_->to(device_);

  const int64_t enc_width = encoder_->hidden_size(), dec_width = decoder_->hidden_size();
  config_.pooling.validate(enc_width);
  // Initial values come from the CPU generator on every device, so a seed
  // means the same start everywhere.
  parts_->pooler = Pooler(config_.pooling, enc_width);
  parts_->pooler->to(device_);
  for (auto& p : parts_->pooler->parameters()) p.requires_grad_(config_.train_pooling);
  parts_->adapter = Adapter(AdapterOptions{enc_width, config_.adapter_hidden, dec_width});
  parts_->adapter->to(device_);
  for (auto& p : parts_->adapter->parameters()) p.requires_grad_(config_.train_adapter);
  if (config_.standardize_pooled) {
    parts_->pooled_mean = torch::zeros({enc_width}, device_);
    parts_->pooled_std = torch::ones({enc_width}, device_);
  }
  if (config_.markers) {
    parts_->marker_begin = (torch::randn({dec_width}) * 0.02).to(device_).requires_grad_(config_.train_adapter);
    parts_->marker_end = (torch::randn({dec_width}) * 0.02).to(device_).requires_grad_(config_.train_adapter);
  }
  if (!config_.prefix.empty()) parts_->prefix_ids = decoder_tokenizer_->encode(config_.prefix, false).ids;

  // Identities record the model as the config gives it (a name stays portable).
  auto encoder_weights = open_weights(encoder_path);
  identities_.push_back(identify_base_model("encoder", config_.encoder_path, *encoder_weights,
                                            model_config_json(encoder_path, encoder_->config().to_json())));
  auto decoder_weights = open_weights(decoder_path);
  identities_.push_back(identify_base_model("decoder", config_.decoder_path, *decoder_weights,
                                            model_config_json(decoder_path, decoder_->config().to_json())));
}

E2llmModel::~E2llmModel() = default;

ChunkedContext E2llmModel::chunk_context(std::string_view text) const {
  Encoding enc = encoder_tokenizer_->encode(text, false);
  std::vector<TokenSpan> spans;
  spans.reserve(enc.size());
  for (const auto& [b, e] : enc.byte_offsets) spans.push_back({b, e});
  ChunkerOptions options = config_.chunker;
  options.chunk_size = chunk_size_;
  ChunkedContext out;
  out.chunks = chunk_text(text, spans, options);
  out.context_tokens = static_cast<int64_t>(enc.size());
  const SpecialTokenIds& special = encoder_tokenizer_->special_ids();
  const std::optional<int64_t> first = special.cls ? special.cls : special.bos;
  const std::optional<int64_t> last = special.sep ? special.sep : special.eos;
  for (const Chunk& c : out.chunks) {
    std::vector<int64_t> ids;
    ids.reserve(c.num_tokens + 2);
    if (first) ids.push_back(*first);
    ids.insert(ids.end(), enc.ids.begin() + c.first_token, enc.ids.begin() + c.first_token + c.num_tokens);
    if (last) ids.push_back(*last);
    out.ids.push_back(std::move(ids));
  }
  return out;
}

torch::Tensor E2llmModel::adapt(const torch::Tensor& pooled) {
  torch::Tensor flat = pooled.reshape({-1, pooled.size(-1)}).to(device_, torch::kFloat32);
  if (config_.standardize_pooled) flat = (flat - parts_->pooled_mean) / parts_->pooled_std;
  return parts_->adapter->forward(flat).to(torch_dtype(config_));
}

void E2llmModel::calibrate(const std::vector<std::string>& contexts) {
  if (!config_.standardize_pooled) return;
  const int64_t max_chunks = config_.calibration_chunks;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> pooled;
  int64_t chunks = 0;
  for (const std::string& context : contexts) {
    if (chunks >= max_chunks) break;
    ChunkedContext chunked = chunk_context(context);
    if (chunked.ids.empty()) continue;
    const int64_t take = std::min<int64_t>(static_cast<int64_t>(chunked.ids.size()), max_chunks - chunks);
    chunked.ids.resize(take);
    torch::Tensor p = encoder_->encode_tokens(chunked.ids, parts_->pooler);
    pooled.push_back(p.reshape({-1, p.size(-1)}).to(torch::kFloat32));
    chunks += take;
  }
  E2LLM_CHECK(chunks >= 2, "e2llm: calibrating the adapter input needs at least 2 chunks of text, got {}", chunks);
  spdlog::info("e2llm: calibrated the adapter input on {} chunks", chunks);
  torch::Tensor all = torch::cat(pooled);
  parts_->pooled_mean.copy_(all.mean(0));
  // The floor keeps dimensions that never vary (and rounding noise) from being blown up.
  parts_->pooled_std.copy_(all.std(0).clamp_min(1e-4 * all.abs().max().item<double>() + 1e-12));
}

// Chunks per encoder pass: 8 of 256 tokens. The encoder's peak memory grows
// with the pass (64 chunks, the generic default, took ~0.6 GB at 32k tokens,
// more than the rest of a quantized E2LLM model), and small passes were not
// slower, rather faster (docs/efficiency.md: 64, 16 and 8 chunks measured).
namespace {
BatchingOptions encoder_batching() {
  BatchingOptions batching;
  batching.max_batch_tokens = 2048;
  return batching;
}
}  // namespace

torch::Tensor E2llmModel::encode_chunks(const ChunkedContext& context,
                                        const std::function<void(size_t, size_t)>& after_batch) {
  return encode_contexts(std::span(&context, 1), after_batch).front();
}

std::vector<torch::Tensor> E2llmModel::encode_contexts(std::span<const ChunkedContext> contexts,
                                                       const std::function<void(size_t, size_t)>& after_batch) {
  std::vector<int64_t> chunk_counts;
  for (const ChunkedContext& context : contexts) {
    E2LLM_CHECK(!context.ids.empty(), "e2llm: the context has no tokens to encode");
    chunk_counts.push_back(static_cast<int64_t>(context.ids.size()));
  }
  torch::Tensor pooled;  // [all chunks, k, H_enc]
  if (any_trainable(encoder_->module()) || any_trainable(*parts_->pooler)) {
    std::vector<std::vector<int64_t>> ids;
    for (const ChunkedContext& context : contexts) ids.insert(ids.end(), context.ids.begin(), context.ids.end());
    BatchingOptions batching = encoder_batching();
    batching.after_batch = after_batch;
    pooled = encoder_->encode_tokens(ids, parts_->pooler, batching);
  } else {
    std::vector<torch::Tensor> each;
    for (const ChunkedContext& context : contexts) each.push_back(pool_chunks(context, after_batch));
    pooled = each.size() == 1 ? each.front() : torch::cat(each);
  }
  const int64_t k = pooled.size(1);
  for (int64_t& count : chunk_counts) count *= k;
  return adapt(pooled).split_with_sizes(chunk_counts);
}

torch::Tensor E2llmModel::pool_chunks(const ChunkedContext& context,
                                      const std::function<void(size_t, size_t)>& after_batch) {
  E2LLM_CHECK(!context.ids.empty(), "e2llm: the context has no tokens to encode");
  if (const Parts::CachedContext* cached = parts_->find(context.ids)) {
    ++parts_->pooled_cache_hits;
    return cached->pooled;
  }
  torch::Tensor pooled;
  {
    torch::NoGradGuard no_grad;  // nothing to differentiate on this side
    BatchingOptions batching = encoder_batching();
    batching.after_batch = after_batch;
    // On the CPU whatever the device: the store writes them and mixes them
    // with vectors it read back.
    pooled = encoder_->encode_tokens(context.ids, parts_->pooler, batching).to(torch::kCPU, torch::kFloat32);
  }
  const size_t capacity = static_cast<size_t>(config_.pooled_cache_mb) << 20;
  size_t bytes = pooled.nbytes();
  for (const auto& chunk : context.ids) bytes += chunk.size() * sizeof(int64_t);
  if (parts_->pooled_cache_bytes + bytes > capacity) parts_->forget();
  if (bytes <= capacity) {
    parts_->pooled_cache.emplace(hash_chunks(context.ids), Parts::CachedContext{context.ids, pooled});
    parts_->pooled_cache_bytes += bytes;
  }
  return pooled;
}

int64_t E2llmModel::pooled_cache_hits() const { return parts_->pooled_cache_hits; }

std::vector<Segment> E2llmModel::document_segments(const torch::Tensor& soft) const {
  const torch::ScalarType dtype = torch_dtype(config_);
  std::vector<Segment> segments;
  if (!parts_->prefix_ids.empty()) segments.push_back(Segment::tokens(parts_->prefix_ids));
  if (config_.markers) segments.push_back(Segment::soft(parts_->marker_begin.unsqueeze(0).to(dtype)));
  segments.push_back(Segment::soft(soft));
  if (config_.markers) segments.push_back(Segment::soft(parts_->marker_end.unsqueeze(0).to(dtype)));
  return segments;
}

size_t ReadDocument::bytes() const { return soft.nbytes() + state.cache.nbytes(); }

ReadDocument E2llmModel::read(const torch::Tensor& soft) {
  return ReadDocument{soft, prefill_state(*decoder_, document_segments(soft))};
}

std::vector<Segment> E2llmModel::assemble(const torch::Tensor& soft, const std::string& prompt,
                                          const std::vector<int64_t>& answer_ids) const {
  std::vector<Segment> segments = document_segments(soft);
  segments.push_back(Segment::tokens(prompt_ids(prompt)));
  if (!answer_ids.empty()) segments.push_back(Segment::tokens(answer_ids, true));
  return segments;
}

std::vector<int64_t> E2llmModel::prompt_ids(const std::string& prompt) const {
  return decoder_tokenizer_->encode(replace_all(config_.prompt_template, "{prompt}", prompt), false).ids;
}

std::vector<int64_t> E2llmModel::answer_ids(const std::string& text, int64_t max_tokens) const {
  std::vector<int64_t> ids = decoder_tokenizer_->encode(text, false).ids;
  if (max_tokens >= 0 && static_cast<int64_t>(ids.size()) > max_tokens) ids.resize(max_tokens);
  if (!decoder_->eos_token_ids().empty()) ids.push_back(decoder_->eos_token_ids().front());
  return ids;
}

bool E2llmModel::frozen() {
  if (parts_->marker_begin.requires_grad() || parts_->marker_end.requires_grad()) return false;
  return !any_trainable(*decoder_) && !any_trainable(*parts_->adapter) && !any_trainable(encoder_->module()) &&
         !any_trainable(*parts_->pooler);
}

void E2llmModel::freeze() {
  for (auto& [name, t] : named_state()) t.requires_grad_(false);
  for (torch::Tensor& p : decoder_->parameters()) p.requires_grad_(false);
  for (torch::Tensor& p : encoder_->module().parameters()) p.requires_grad_(false);
}

std::shared_ptr<const ReadDocument> E2llmModel::read_context(const ChunkedContext& chunked,
                                                            const AnswerOptions& options, AnswerTiming& t) {
  const size_t total = chunked.ids.size();
  const bool remember = frozen();
  if (remember && parts_->last_read && parts_->last_read_ids == chunked.ids) {
    ++parts_->pooled_cache_hits;
    if (options.on_encoded) {  // at once done
      options.on_encoded(0, total);
      options.on_encoded(total, total);
    }
    return parts_->last_read;
  }
  parts_->last_read.reset();  // its memory is free before this document's is taken
  auto start = Clock::now();
  torch::Tensor soft;
  if (options.on_encoded) {
    size_t done = 0;
    options.on_encoded(0, total);
    soft = encode_chunks(chunked, [&](size_t now, size_t all) { options.on_encoded(done = now, all); });
    if (done < total) options.on_encoded(total, total);
  } else {
    soft = encode_chunks(chunked);
  }
  t.encode_s = seconds_since(start);
  start = Clock::now();
  auto read = std::make_shared<const ReadDocument>(this->read(soft));
  t.prefill_s = seconds_since(start);
  if (remember) {
    parts_->last_read_ids = chunked.ids;
    parts_->last_read = read;
  }
  return read;
}

// Known before the encoding, which for a text too long takes minutes: each
// chunk becomes k soft tokens, and the window must hold them, the prompt and
// at least one answer token.
std::string E2llmModel::window_overflow(const ChunkedContext& chunked, const std::string& prompt) const {
  const int64_t window = decoder_->config().context_window();
  const int64_t fixed = static_cast<int64_t>(parts_->prefix_ids.size()) + (config_.markers ? 2 : 0) +
                        static_cast<int64_t>(prompt_ids(prompt).size());
  const int64_t chunks = static_cast<int64_t>(chunked.chunks.size()), k = config_.pooling.k;
  if (fixed + chunks * k < window) return "";
  const int64_t most = std::max<int64_t>(0, (window - fixed - 1) / k);
  return fmt::format("the text is {} chunks ({} encoder tokens), {} soft tokens; with the prompt and markers ({} "
                     "positions) they fill the decoder's window of {}: this model reads at most {} chunks (about {} "
                     "tokens) with this prompt",
                     chunks, chunked.context_tokens, chunks * k, fixed, window, most, most * chunk_size_);
}

std::string E2llmModel::generate(const std::string& context, const std::string& prompt,
                                 const AnswerOptions& options, AnswerTiming* timing) {
  return generate(chunk_context(context), prompt, options, timing);
}

std::string E2llmModel::generate(const ChunkedContext& chunked, const std::string& prompt,
                                 const AnswerOptions& options, AnswerTiming* timing) {
  torch::NoGradGuard no_grad;
  AnswerTiming t;
  if (std::string why = window_overflow(chunked, prompt); !why.empty()) fail("{}", why);
  // The document is prefilled apart from the question whether or not it is
  // remembered, so that an answer does not depend on what came before it.
  std::shared_ptr<const ReadDocument> read = read_context(chunked, options, t);
  t.chunks = static_cast<int64_t>(chunked.chunks.size());
  t.context_tokens = chunked.context_tokens;
  t.soft_tokens = read->soft.size(0) + (config_.markers ? 2 : 0);
  spdlog::debug("e2llm: {} chunks of {} encoder tokens encoded in {:.3f} s, read in {:.3f} s", t.chunks,
                t.context_tokens, t.encode_s, t.prefill_s);

  GenerateOptions generation;
  generation.sampling = options.sampling;
  generation.stop.max_new_tokens = options.max_new_tokens;
  generation.stop.stop_strings = options.stop_strings;
  generation.stop.ignore_eos = options.ignore_eos;
  generation.on_text = options.on_text;
  GenerateResult result =
      e2llm::generate(*decoder_, *decoder_tokenizer_, assemble(read->soft, prompt), generation, &read->state);
  t.prefill_s += result.prefill_seconds;
  t.decode_s = result.decode_seconds;
  t.generated_tokens = result.generated_tokens();
  spdlog::debug("e2llm: prefill {} positions in {:.3f} s, {} tokens decoded in {:.3f} s", result.prompt_tokens,
                t.prefill_s, t.generated_tokens, t.decode_s);
  if (timing) *timing = t;
  return result.text;
}

std::vector<std::pair<std::string, torch::Tensor>> E2llmModel::named_state() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& p : parts_->adapter->named_parameters()) out.emplace_back("adapter." + p.key(), p.value());
  if (config_.standardize_pooled) {
    out.emplace_back("adapter.input_mean", parts_->pooled_mean);
    out.emplace_back("adapter.input_std", parts_->pooled_std);
  }
  if (config_.markers) {
    out.emplace_back("markers.begin", parts_->marker_begin);
    out.emplace_back("markers.end", parts_->marker_end);
  }
  for (auto& p : parts_->pooler->named_parameters()) out.emplace_back("pooling." + p.key(), p.value());
  add_lora_tensors(encoder_->module(), "encoder_lora.", out);
  add_lora_tensors(*decoder_, "decoder_lora.", out);
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> E2llmModel::named_trainable() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& [name, t] : named_state())
    if (t.requires_grad()) out.emplace_back(name, t);
  return out;
}

void E2llmModel::load_state(const std::map<std::string, torch::Tensor>& tensors) {
  parts_->forget();  // encoder LoRA / pooling may change below
  copy_named_tensors(named_state(), tensors, "e2llm checkpoint");
}

std::vector<BaseModelIdentity> E2llmModel::base_models() const { return identities_; }

void E2llmModel::merge_lora() {
  parts_->forget();
  nn::merge_lora(encoder_->module());
  nn::merge_lora(*decoder_);
}

std::string E2llmModel::fingerprint() {
  nlohmann::json config = config_.model_json();
  // The answer defaults decide no vector: stored documents outlive a change of them.
  for (const char* key : {"repetition_penalty", "no_repeat_ngram_size"}) config.erase(key);
  std::string key = config.dump();
  for (const BaseModelIdentity& id : identities_) key += "|" + id.config_hash + ":" + id.weight_fingerprint;
  for (const auto& [name, tensor] : named_state()) {
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    key += "|" + name + ":" + fnv1a_hex(t.data_ptr(), t.nbytes());
  }
  return fnv1a_hex(key.data(), key.size());
}

std::unique_ptr<E2llmModel> load_e2llm(const std::string& checkpoint, const std::string& weights,
                                       const std::string& device) {
  spdlog::info("e2llm: loading checkpoint {}", checkpoint);
  TrainingState state = load_checkpoint(checkpoint);
  nlohmann::json model_json = state.config.value("model", nlohmann::json::object());
  model_json["device"] = device;
  E2llmConfig config = E2llmConfig::from_json(model_json, checkpoint);
  // decoder_options_for() checks the choice against the decoder file and the device.
  const DecoderOptions decoder = decoder_options_for(weights, resolve_model_path(config.decoder_path), parse_device(device));
  if (weights != "auto" && weights != "quantized")
    config.dtype = decoder.dtype == torch::kBFloat16 ? "bfloat16" : "float32";
  auto model = std::make_unique<E2llmModel>(std::move(config), decoder.keep_quantized);
  spdlog::info("e2llm: decoder weights {}", model->decoder().weights_description());
  check_base_models(state.base_models, model->base_models());
  model->load_state(state.trainable);
  // Encoding a long document is the larger part of an answer, and the
  // adapters' extra products took ~20% of it (docs/efficiency.md).
  model->merge_lora();
  model->freeze();
  return model;
}

}  // namespace e2llm
