// E2LLM (Encoder Elongated LLMs, arXiv 2409.06679): a long context is cut
// into chunks, each chunk is encoded (BERT-family encoder, optional LoRA) and
// pooled to k vectors, an adapter maps them into the decoder's embedding
// space, and the decoder (optional LoRA) reads those "soft tokens" instead of
// the raw text:
//
//   [prefix ids] [begin marker] [soft tokens of every chunk] [end marker]
//   [prompt ids] -> answer ids
//
// with consecutive positions. All chunks of a context are encoded in batched
// forward passes; the decoder never sees the context's text.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "e2llm/adapter.h"
#include "e2llm/checkpoint.h"
#include "e2llm/chunker.h"
#include "e2llm/decoder.h"
#include "e2llm/encoder.h"
#include "e2llm/lora.h"
#include "e2llm/pooling.h"
#include "e2llm/tokenizer.h"

namespace e2llm {

struct E2llmConfig {
  std::string encoder_path;  // Hugging Face folder
  std::string decoder_path;  // Hugging Face folder or .gguf
  std::string dtype = "float32";  // "float32" or "bfloat16": base weights and compute

  // chunk_size is the encoder-token budget per chunk WITHOUT [CLS]/[SEP];
  // 0 = the encoder's position limit minus 2 (510 for BERT).
  ChunkerOptions chunker{0, 0, true};
  PoolingConfig pooling{PoolingMode::kMean, 1, 8, false};
  int64_t adapter_hidden = 0;  // 0 = decoder width
  bool markers = true;         // learned begin/end embeddings around the soft tokens
  // Standardize the pooled vectors before the adapter: (x - mean) / std per
  // dimension, measured on training chunks by calibrate(). Pooled encoder
  // vectors share a large common component and differ by little; without
  // this, Adam moves the adapter along the common direction and barely learns
  // what tells chunks apart.
  bool standardize_pooled = true;

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

  static E2llmConfig from_json(const nlohmann::json& j);  // unknown keys are errors
  nlohmann::json to_json() const;
  torch::ScalarType torch_dtype() const;
};

// A context after chunking: the encoder ids of every chunk (special tokens
// included) and where each chunk lies in the text.
struct ChunkedContext {
  std::vector<std::vector<int64_t>> ids;
  std::vector<Chunk> chunks;
  int64_t context_tokens = 0;  // encoder tokens of the whole context
};

struct AnswerOptions {  // E2llmModel::generate (greedy)
  int64_t max_new_tokens = 128;
};

struct AnswerTiming {
  int64_t chunks = 0;
  int64_t context_tokens = 0;  // encoder tokens
  int64_t soft_tokens = 0;     // decoder positions used by the context
  double encode_s = 0, prefill_s = 0, decode_s = 0;
  int64_t generated_tokens = 0;
};

class E2llmModel {
 public:
  // Loads encoder, decoder and both tokenizers, attaches LoRA, builds the
  // adapter/markers/pooling with torch's current generator.
  explicit E2llmModel(E2llmConfig config);
  ~E2llmModel();

  const E2llmConfig& config() const { return config_; }
  CausalLMImpl& decoder() { return *decoder_; }
  TextEncoder& encoder() { return *encoder_; }
  const Tokenizer& encoder_tokenizer() const { return *encoder_tokenizer_; }
  const Tokenizer& decoder_tokenizer() const { return *decoder_tokenizer_; }
  int64_t chunk_size() const { return chunk_size_; }

  ChunkedContext chunk_context(std::string_view text) const;
  // Soft tokens of all chunks: [chunks * k, decoder hidden] in the decoder's
  // dtype; autograd flows. While nothing on the encoder side (encoder LoRA,
  // pooling) is trainable, the pooled chunk vectors are remembered per
  // context (up to 256 MB), so the many questions about one document during
  // training or evaluation encode it once.
  torch::Tensor encode_chunks(const ChunkedContext& context);
  int64_t pooled_cache_hits() const;
  torch::Tensor adapt(const torch::Tensor& pooled);  // [n, k, H_enc] -> [n * k, D]

  // Measures the pooled vectors' per-dimension mean and std over the chunks
  // of `contexts` (at most `max_chunks`), for standardize_pooled. Training
  // calls it before the first step; checkpoints store the result.
  void calibrate(const std::vector<std::string>& contexts, int64_t max_chunks = 256);

  // The decoder input: prefix, markers around `soft`, the prompt (through
  // prompt_template), then `answer_ids` as training targets when given.
  std::vector<Segment> assemble(const torch::Tensor& soft, const std::string& prompt,
                                const std::vector<int64_t>& answer_ids = {}) const;
  std::vector<int64_t> answer_ids(const std::string& answer) const;  // with EOS

  // Mean cross-entropy of each task on one example (soft tokens shared).
  struct Losses {
    torch::Tensor reason, understand;  // understand undefined when alpha == 0
    int64_t tokens = 0;
  };
  Losses losses(const std::string& context, const std::string& prompt, const std::string& answer,
                std::mt19937_64& rng);

  // Greedy answer to `prompt` about `context`.
  std::string generate(const std::string& context, const std::string& prompt, const AnswerOptions& options = {},
                       AnswerTiming* timing = nullptr);

  // Trainable tensors by checkpoint name: "adapter.*" (with the frozen
  // "adapter.input_mean/input_std" of standardize_pooled), "markers.begin/end",
  // "pooling.*", "encoder_lora.<PEFT key>", "decoder_lora.<PEFT key>".
  std::vector<std::pair<std::string, torch::Tensor>> named_trainable();
  // Every E2LLM-owned tensor (trainable or not) by the same names.
  std::vector<std::pair<std::string, torch::Tensor>> named_state();
  void load_state(const std::map<std::string, torch::Tensor>& tensors);  // strict: names and shapes
  std::vector<BaseModelIdentity> base_models() const;

 private:
  struct Parts;
  E2llmConfig config_;
  std::shared_ptr<TextEncoder> encoder_;
  CausalLM decoder_;
  std::unique_ptr<Tokenizer> encoder_tokenizer_, decoder_tokenizer_;
  std::unique_ptr<Parts> parts_;
  int64_t chunk_size_ = 0;
  std::vector<BaseModelIdentity> identities_;
};

// An E2LLM model restored from a checkpoint (root or step folder): config,
// base models (refused when they are not the ones it was trained on) and
// trained weights.
std::unique_ptr<E2llmModel> load_e2llm(const std::string& checkpoint);

}  // namespace e2llm
