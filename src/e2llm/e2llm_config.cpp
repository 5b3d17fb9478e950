// E2llmConfig <-> JSON (the "model" section of a training config, and what a
// checkpoint stores). Flat keys, read with the checked readers; unknown keys
// are errors. Torch-free (see e2llm_config.h).
#include "e2llm/e2llm/e2llm_config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "io/json_field_table.h"

namespace e2llm {
namespace {

// One table drives both directions, so a new option cannot be forgotten in one.
// The pooling mode is stored by name.
constexpr auto kFields = [](E2llmConfig& c, auto&& visit) {
  visit("encoder", c.encoder_path);
  visit("decoder", c.decoder_path);
  visit("dtype", c.dtype);
  visit("device", c.device);
  visit("chunk_size", c.chunker.chunk_size);
  visit("chunk_overlap", c.chunker.overlap);
  visit("prefer_boundaries", c.chunker.prefer_boundaries);
  visit("encoder_split_digits", c.encoder_split_digits);
  visit("pooling", json_fields::by_name(c.pooling.mode, parse_pooling_mode, pooling_mode_name));
  visit("pooling_k", c.pooling.k);
  visit("pooling_heads", c.pooling.heads);
  visit("pooling_normalize", c.pooling.normalize);
  visit("adapter_hidden", c.adapter_hidden);
  visit("markers", c.markers);
  visit("standardize_pooled", c.standardize_pooled);
  visit("encoder_lora_rank", c.encoder_lora_rank);
  visit("decoder_lora_rank", c.decoder_lora_rank);
  visit("lora_alpha", c.lora_alpha);
  visit("lora_dropout", c.lora_dropout);
  visit("encoder_lora_targets", c.encoder_lora_targets);
  visit("decoder_lora_targets", c.decoder_lora_targets);
  visit("train_adapter", c.train_adapter);
  visit("train_pooling", c.train_pooling);
  visit("train_encoder_lora", c.train_encoder_lora);
  visit("train_decoder_lora", c.train_decoder_lora);
  visit("prefix", c.prefix);
  visit("prompt_template", c.prompt_template);
  visit("restate_instruction", c.restate_instruction);
  visit("summarize_instruction", c.summarize_instruction);
  visit("alpha", c.alpha);
  visit("understand_chunks", c.understand_chunks);
  visit("max_restate_tokens", c.max_restate_tokens);
  visit("stage1_steps", c.stage1_steps);
  visit("activation_checkpointing", c.activation_checkpointing);
  visit("calibration_chunks", c.calibration_chunks);
  visit("pooled_cache_mb", c.pooled_cache_mb);
  visit("repetition_penalty", c.repetition_penalty);
  visit("no_repeat_ngram_size", c.no_repeat_ngram_size);
};

// `at` is "<file>: " or "".
void validate(const E2llmConfig& c, const std::string& at) {
  E2LLM_CHECK(!c.encoder_path.empty(), "{}model.encoder: the encoder folder is required", at);
  E2LLM_CHECK(!c.decoder_path.empty(), "{}model.decoder: the decoder folder or .gguf is required", at);
  E2LLM_CHECK(c.dtype == "float32" || c.dtype == "bfloat16", "{}model.dtype must be float32 or bfloat16, got '{}'",
              at, c.dtype);
  const bool cuda_n = c.device.rfind("cuda:", 0) == 0 && c.device.size() > 5 &&
                      c.device.find_first_not_of("0123456789", 5) == std::string::npos;
  E2LLM_CHECK(c.device == "cpu" || c.device == "cuda" || c.device == "auto" || cuda_n,
              "{}model.device must be cpu, cuda, cuda:N or auto, got '{}'", at, c.device);
  E2LLM_CHECK(c.chunker.chunk_size >= 0, "{}model.chunk_size must be >= 0, got {}", at, c.chunker.chunk_size);
  E2LLM_CHECK(c.prompt_template.find("{prompt}") != std::string::npos,
              "{}model.prompt_template must contain {{prompt}}, got '{}'", at, c.prompt_template);
  E2LLM_CHECK(c.encoder_lora_rank >= 0 && c.decoder_lora_rank >= 0, "{}model: LoRA ranks must be >= 0", at);
  E2LLM_CHECK(c.alpha >= 0, "{}model.alpha must be >= 0, got {}", at, c.alpha);
  E2LLM_CHECK(c.understand_chunks >= 1, "{}model.understand_chunks must be >= 1, got {}", at, c.understand_chunks);
  E2LLM_CHECK(c.calibration_chunks >= 2, "{}model.calibration_chunks must be >= 2, got {}", at,
              c.calibration_chunks);
  E2LLM_CHECK(c.pooled_cache_mb >= 0, "{}model.pooled_cache_mb must be >= 0, got {}", at, c.pooled_cache_mb);
  E2LLM_CHECK(c.repetition_penalty > 0 && std::isfinite(c.repetition_penalty),
              "{}model.repetition_penalty must be a finite number > 0 (1 = off), got {}", at, c.repetition_penalty);
  E2LLM_CHECK(c.no_repeat_ngram_size >= 0, "{}model.no_repeat_ngram_size must be >= 0 (0 = off), got {}", at,
              c.no_repeat_ngram_size);
  E2LLM_CHECK(c.max_restate_tokens >= 1, "{}model.max_restate_tokens must be >= 1, got {}", at,
              c.max_restate_tokens);
}

}  // namespace

E2llmConfig E2llmConfig::from_json(const nlohmann::json& j, const std::string& source) {
  E2llmConfig c;
  const json_fields::Where where(source, "model");
  json_fields::read_fields(j, c, kFields, where);
  validate(c, where.prefix());
  return c;
}

nlohmann::json E2llmConfig::to_json() const { return json_fields::write_fields(*this, kFields); }

nlohmann::json E2llmConfig::model_json() const {
  nlohmann::json j = to_json();
  j.erase("device");
  return j;
}

}  // namespace e2llm
