// Decoder-only causal language models (Llama 2/3, SmolLM2, Mistral, Qwen2/2.5,
// Qwen3, Gemma 3) with a KV cache and "soft token" input.
//
// Contract for generation code (the `generation` branch builds on this):
//   CausalLM lm = load_causal_lm(path, {.dtype = torch::kBFloat16});  // HF folder or .gguf
//   KvCache cache = lm->new_cache(batch, max_tokens);
//   torch::Tensor logits = lm->prefill({Segment::tokens(prompt_ids)}, cache);   // [1, vocab], last position
//   while (...) logits = lm->forward_step(next_ids /*[B] int64*/, cache);        // [B, vocab]
//   lm->vocab_size(); lm->eos_token_ids(); lm->tokenizer_path(); lm->model_dir();
// All inference entry points are safe to call under torch::InferenceMode or
// NoGradGuard; the model never turns gradients on or off itself.
//
// Module names mirror Hugging Face's ("model.layers.0.self_attn.q_proj"), so
// nn::apply_lora() and PEFT adapters work on it unchanged. The model code
// does not know whether LoRA is attached.
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "e2llm/decoder/decoder_config.h"
#include "e2llm/decoder/kv_cache.h"
#include "e2llm/nn/lora.h"
#include "e2llm/io/weights.h"

namespace e2llm {

struct DecoderOptions {
  // Weight and compute dtype: kFloat32 or kBFloat16. Norms, softmax and RoPE
  // tables are computed in float32 as transformers does.
  torch::ScalarType dtype = torch::kFloat32;
  torch::Device device = torch::kCPU;
  // Recompute each layer in backward instead of storing its activations
  // (training only; no effect without autograd).
  bool activation_checkpointing = false;
  // GGUF files: the block-quantized linear layers and token embeddings stay
  // as the file stores them and run through the quantized kernels
  // (e2llm/nn/quantized_matmul.h); the rest is in `dtype`. Inference only
  // (no gradient flows through them), CPU only.
  bool keep_quantized = false;
  // Element type of the KV cache (new_cache()); unset: `dtype`. float16
  // halves the bytes a decoding step reads per cached position (llama.cpp's
  // default too); attention still computes in float32, converting as it loads.
  // decoder_options_for() picks it for quantized weights.
  std::optional<torch::ScalarType> kv_cache_dtype = std::nullopt;
};

// One piece of decoder input: token ids, or precomputed input embeddings
// ("soft tokens", [n, hidden]) such as E2LLM's adapted chunk vectors. Soft
// tokens are used as they are: Gemma's sqrt(hidden) embedding scale is applied
// to token embeddings only (the adapter learns whatever scale it needs).
struct Segment {
  std::vector<int64_t> ids;
  torch::Tensor embeddings;
  bool is_target = false;  // token segment whose tokens are training labels

  static Segment tokens(std::vector<int64_t> ids, bool is_target = false);
  static Segment soft(torch::Tensor embeddings);
  int64_t size() const;
};

// A padded batch assembled from segment lists.
struct AssembledBatch {
  torch::Tensor embeddings;      // [B, T, hidden] (carries gradients of soft segments)
  torch::Tensor attention_mask;  // [B, T] bool
  torch::Tensor positions;       // [B, T] int64 (0.. per sequence; pads repeat a neighbour)
  torch::Tensor labels;          // [B, T] int64: target token ids, -100 elsewhere
  std::vector<int64_t> lengths;  // tokens per sequence
};

enum class Padding { Left, Right };
enum class LogitsFor { All, Last };

namespace detail {
class DecoderStackImpl;  // "model": embed_tokens, layers, norm (src/decoder/decoder_blocks.h)
}

class CausalLMImpl : public torch::nn::Module {
 public:
  CausalLMImpl(DecoderConfig config, const Weights& weights, const DecoderOptions& options = {});

  const DecoderConfig& config() const { return config_; }
  const DecoderOptions& options() const { return options_; }
  int64_t vocab_size() const { return config_.vocab_size; }
  int64_t hidden_size() const { return config_.hidden_size; }
  // eos ids from config.json plus generation_config.json when present.
  const std::vector<int64_t>& eos_token_ids() const { return eos_token_ids_; }
  // Folder with config.json / tokenizer.json / tokenizer_config.json, or "" for
  // in-memory models; for a GGUF model, the folder holding it.
  const std::string& model_dir() const { return model_dir_; }
  // tokenizer.json of a folder, or the .gguf file itself (its vocab), or "".
  const std::string& tokenizer_path() const { return tokenizer_path_; }

  // [B, T] int64 ids -> [B, T, hidden] (with the family's embedding scale).
  torch::Tensor embed(const torch::Tensor& ids);

  // Core forward. embeddings [B, T, hidden]; attention_mask [B, T] (bool or
  // 0/1; undefined = all valid); positions [B, T] int64 (undefined = count of
  // valid tokens before each one, continuing the cache's lengths). With a
  // cache the new tokens are appended to it. Returns logits [B, T, vocab]
  // (LogitsFor::All) or those of each row's last valid token [B, vocab].
  torch::Tensor forward(const torch::Tensor& embeddings, const torch::Tensor& attention_mask = {},
                        const torch::Tensor& positions = {}, KvCache* cache = nullptr,
                        LogitsFor which = LogitsFor::All);
  torch::Tensor forward_ids(const torch::Tensor& ids, const torch::Tensor& attention_mask = {},
                            const torch::Tensor& positions = {}, KvCache* cache = nullptr,
                            LogitsFor which = LogitsFor::All);
  // Final-normed hidden states [B, T, hidden] (no lm_head) and the head itself.
  torch::Tensor hidden_states(const torch::Tensor& embeddings, const torch::Tensor& attention_mask = {},
                              const torch::Tensor& positions = {}, KvCache* cache = nullptr);
  torch::Tensor logits(const torch::Tensor& hidden);

  // Soft-token input. Assembles embeddings (token lookup for id segments,
  // soft segments as given) with consecutive positions.
  AssembledBatch assemble(const std::vector<std::vector<Segment>>& batch, Padding padding = Padding::Right);
  // One sequence: prefills `cache` (batch 1) and returns the last position's
  // logits [1, vocab]; gradients flow into soft segments.
  torch::Tensor prefill(const std::vector<Segment>& segments, KvCache& cache);
  // Several sequences, left-padded so that decoding can continue in `cache`
  // (batch B); returns the logits of each one's last token [B, vocab].
  torch::Tensor prefill(const std::vector<std::vector<Segment>>& batch, KvCache& cache);
  // Training: all logits [B, T, vocab] of a right-padded batch, no cache.
  torch::Tensor forward_segments(const AssembledBatch& batch);
  // One decoding step: ids [B] -> logits [B, vocab]; appends to cache.
  torch::Tensor forward_step(const torch::Tensor& ids, KvCache& cache);

  KvCache new_cache(int64_t batch, int64_t capacity) const;

  // How the weights are held: "quantized (Q4_1 ×168 linear layers, Q8_0
  // embeddings)", "float32" or "bfloat16".
  std::string weights_description() const;

 private:
  DecoderConfig config_;
  DecoderOptions options_;
  std::vector<int64_t> eos_token_ids_;
  std::string model_dir_, tokenizer_path_;
  std::shared_ptr<detail::DecoderStackImpl> model_;
  nn::Linear lm_head_{nullptr};
  friend std::shared_ptr<CausalLMImpl> load_causal_lm(const std::string&, const DecoderOptions&);
};

using CausalLM = std::shared_ptr<CausalLMImpl>;

// The --weights choice of the decoder commands, for the model at `path`:
// "auto" (quantized for a .gguf file, else float32), "quantized" (a .gguf
// file's block-quantized tensors as they are), "float32" / "fp32",
// "bfloat16" / "bf16". Throws naming the choice when it is unknown or does
// not fit the file. Off the CPU "auto" means float32 and "quantized" is an
// error: the quantized kernels are CPU code.
DecoderOptions decoder_options_for(const std::string& weights, const std::string& path,
                                   torch::Device device = torch::kCPU);

// A Hugging Face model folder (config.json + safetensors) or a .gguf file.
CausalLM load_causal_lm(const std::string& path, const DecoderOptions& options = {});
// Weights under Hugging Face names plus a config (e.g. from tests).
CausalLM make_causal_lm(const DecoderConfig& config, const Weights& weights, const DecoderOptions& options = {});

// Cross-entropy of next-token prediction as transformers computes it: logits
// [B, T, V] at position t predict labels[:, t + 1]; labels of -100 are ignored;
// mean over the counted tokens.
torch::Tensor causal_lm_loss(const torch::Tensor& logits, const torch::Tensor& labels);

}  // namespace e2llm
