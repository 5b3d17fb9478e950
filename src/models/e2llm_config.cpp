// E2llmConfig <-> JSON (the "model" section of a training config, and what a
// checkpoint stores). Flat keys; unknown keys are errors.
#include "e2llm/e2llm.h"
#include "e2llm/error.h"

namespace e2llm {
namespace {

// Pooling mode is stored by name; everything else is a plain field.
struct PoolingName {
  PoolingMode& mode;
};
void to_json(nlohmann::json& j, const PoolingName& p) { j = pooling_mode_name(p.mode); }

template <typename Visit>
void visit_fields(E2llmConfig& c, Visit&& visit) {
  visit("encoder", c.encoder_path);
  visit("decoder", c.decoder_path);
  visit("dtype", c.dtype);
  visit("chunk_size", c.chunker.chunk_size);
  visit("chunk_overlap", c.chunker.overlap);
  visit("prefer_boundaries", c.chunker.prefer_boundaries);
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
}

void validate(const E2llmConfig& c) {
  E2LLM_CHECK(!c.encoder_path.empty(), "model.encoder: the encoder folder is required");
  E2LLM_CHECK(!c.decoder_path.empty(), "model.decoder: the decoder folder or .gguf is required");
  E2LLM_CHECK(c.dtype == "float32" || c.dtype == "bfloat16", "model.dtype must be float32 or bfloat16, got '{}'",
              c.dtype);
  E2LLM_CHECK(c.chunker.chunk_size >= 0, "model.chunk_size must be >= 0, got {}", c.chunker.chunk_size);
  E2LLM_CHECK(c.prompt_template.find("{prompt}") != std::string::npos,
              "model.prompt_template must contain {{prompt}}, got '{}'", c.prompt_template);
  E2LLM_CHECK(c.encoder_lora_rank >= 0 && c.decoder_lora_rank >= 0, "model: LoRA ranks must be >= 0");
  E2LLM_CHECK(c.alpha >= 0, "model.alpha must be >= 0, got {}", c.alpha);
  E2LLM_CHECK(c.understand_chunks >= 1, "model.understand_chunks must be >= 1, got {}", c.understand_chunks);
  E2LLM_CHECK(c.max_restate_tokens >= 1, "model.max_restate_tokens must be >= 1");
}

}  // namespace

E2llmConfig E2llmConfig::from_json(const nlohmann::json& j) {
  E2LLM_CHECK(j.is_object(), "model config must be a JSON object, got {}", j.type_name());
  E2llmConfig c;
  for (const auto& [key, value] : j.items()) {
    bool found = false;
    if (key == "pooling") {
      E2LLM_CHECK(value.is_string(), "model.pooling: expected a mode name (cls, mean, segments, attention)");
      c.pooling.mode = parse_pooling_mode(value.get<std::string>());
      continue;
    }
    visit_fields(c, [&](const char* name, auto& field) {
      if (key != name) return;
      found = true;
      try {
        value.get_to(field);
      } catch (const nlohmann::json::exception&) {
        fail("model.{}: expected a {}, got {}", key, nlohmann::json(field).type_name(), value.dump());
      }
    });
    E2LLM_CHECK(found, "model.{}: unknown option", key);
  }
  validate(c);
  return c;
}

nlohmann::json E2llmConfig::to_json() const {
  E2llmConfig copy = *this;
  nlohmann::json j = nlohmann::json::object();
  visit_fields(copy, [&](const char* key, auto& field) { j[key] = field; });
  j["pooling"] = PoolingName{copy.pooling.mode};
  return j;
}

torch::ScalarType E2llmConfig::torch_dtype() const {
  return dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32;
}

}  // namespace e2llm
