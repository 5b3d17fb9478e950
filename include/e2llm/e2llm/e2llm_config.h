// E2llmConfig: what an E2LLM model is made of (encoder, decoder, chunking,
// pooling, adapter, LoRA) and how it is trained, as the "model" section of a
// training config and of a checkpoint stores it. Torch-free, so that its JSON
// reader is fuzzed (fuzz/fuzz_e2llm_config.cpp); torch_dtype() is in e2llm_model.h.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "e2llm/chunking/chunker.h"
#include "e2llm/compress/pooling_config.h"

namespace e2llm {

struct E2llmConfig {
  std::string encoder_path;  // Hugging Face folder
  std::string decoder_path;  // Hugging Face folder or .gguf
  std::string dtype = "float32";  // "float32" or "bfloat16": base weights and compute
  // Where every part of the model, its training state and its caches live:
  // "cpu", "cuda", "cuda:N" or "auto" (cuda when available). A run-time
  // choice: not part of the model's fingerprint, and load_e2llm() replaces it.
  std::string device = "cpu";

  // chunk_size is the encoder-token budget per chunk WITHOUT [CLS]/[SEP];
  // 0 = the encoder's position limit minus 2 (510 for BERT).
  ChunkerOptions chunker{0, 0, true};
  // The encoder's tokenizer splits numbers into single digits
  // (TokenizerOptions::split_digits): keys and figures become learnable.
  bool encoder_split_digits = false;
  PoolingConfig pooling{PoolingMode::kMean, 1, 8, false};
  int64_t adapter_hidden = 0;  // 0 = decoder width
  bool markers = true;         // learned begin/end embeddings around the soft tokens
  // Standardize the pooled vectors before the adapter: (x - mean) / std per
  // dimension, measured on training chunks by calibrate(). Pooled encoder
  // vectors share a large common component and differ by little; without
  // this, Adam moves the adapter along the common direction and barely learns
  // what tells chunks apart.
  bool standardize_pooled = true;
  int64_t calibration_chunks = 256;  // chunks calibrate() measures (training start)
  // Memory for remembered pooled chunk vectors while the encoder side is
  // frozen (see encode_chunks); 0 = remember nothing.
  int64_t pooled_cache_mb = 256;

  int64_t encoder_lora_rank = 0;  // 0 = no encoder LoRA
  int64_t decoder_lora_rank = 0;  // 0 = no decoder LoRA
  double lora_alpha = 16.0;
  double lora_dropout = 0.0;
  std::vector<std::string> encoder_lora_targets;  // empty = every linear layer
  std::vector<std::string> decoder_lora_targets;

  bool train_adapter = true;
  bool train_pooling = true;  // only attention pooling has parameters
  bool train_encoder_lora = true;
  bool train_decoder_lora = true;

  // Text around the soft tokens. `prompt_template` contains "{prompt}".
  std::string prefix;
  std::string prompt_template = "{prompt}";
  std::string restate_instruction = "Restate the text above.";
  std::string summarize_instruction = "Summarize the text above.";

  // Training tasks: loss = L_reason + alpha * L_understand.
  double alpha = 1.0;
  int64_t understand_chunks = 1;       // consecutive chunks restated per example
  int64_t max_restate_tokens = 1024;   // decoder tokens of the restated text
  int64_t stage1_steps = 0;            // adapter (+ markers, pooling) alone first
  bool activation_checkpointing = false;

  // How the model answers unless a request says otherwise (answer, eval,
  // serve): transformers' repetition penalty and no-repeat n-gram size
  // (e2llm/generate/sampling.h; 1 and 0 = off). Not learned: `e2llm export`
  // sets them from a measurement on held-out data (docs/model.md).
  double repetition_penalty = 1.0;
  int64_t no_repeat_ngram_size = 0;

  // `j` is the "model" section of a training config or checkpoint; `source`
  // (its file) prefixes error messages. Unknown keys are errors.
  static E2llmConfig from_json(const nlohmann::json& j, const std::string& source = "");
  nlohmann::json to_json() const;
  // to_json() without the run-time `device`: what the model is, wherever it
  // runs (fingerprints, what a training run records).
  nlohmann::json model_json() const;
};

}  // namespace e2llm
