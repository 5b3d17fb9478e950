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
#include <nlohmann/json_fwd.hpp>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "e2llm/chunking/chunker.h"
#include "e2llm/compress/pooling.h"
#include "e2llm/e2llm/e2llm_config.h"
#include "e2llm/decoder/decoder.h"
#include "e2llm/generate/generate.h"
#include "e2llm/generate/sampling.h"
#include "e2llm/io/base_model.h"

namespace e2llm {

class TextEncoder;
class Tokenizer;

// The dtype of the base weights and compute: dtype "bfloat16" or "float32".
torch::ScalarType torch_dtype(const E2llmConfig& config);

// A context after chunking: the encoder ids of every chunk (special tokens
// included) and where each chunk lies in the text.
struct ChunkedContext {
  std::vector<std::vector<int64_t>> ids;
  std::vector<Chunk> chunks;
  int64_t context_tokens = 0;  // encoder tokens of the whole context
};

// How E2llmModel::generate answers: the generic generate() (generate.h)
// over the soft tokens, greedy unless `sampling` says otherwise.
struct AnswerOptions {
  AnswerOptions(int64_t max_new_tokens = 128) : max_new_tokens(max_new_tokens) {}  // NOLINT: `{n}` reads well
  int64_t max_new_tokens;  // the stop token counts, as in generate()
  SamplingConfig sampling;
  std::vector<std::string> stop_strings;
  bool ignore_eos = false;  // max_new_tokens tokens unless the window ends first (StopConfig::ignore_eos)
  std::function<void(std::string_view)> on_text;  // streaming, whole UTF-8 characters
  // Chunks encoded so far and in all (a long document takes seconds): (0,
  // total) first, then after each encoder pass, (total, total) last (at once
  // when the document's vectors are cached).
  std::function<void(size_t done, size_t total)> on_encoded;
};

struct AnswerTiming {
  int64_t chunks = 0;
  int64_t context_tokens = 0;  // encoder tokens
  int64_t soft_tokens = 0;     // decoder positions used by the context
  double encode_s = 0, prefill_s = 0, decode_s = 0;
  int64_t generated_tokens = 0;
};

// Documents as the decoder read them (E2llmModel::read): every question
// about them continues `state`, the KV cache after prefix, markers and `soft`.
struct ReadDocument {
  torch::Tensor soft;
  PromptState state;
  size_t bytes() const;
};

class E2llmModel {
 public:
  // Loads encoder, decoder and both tokenizers, attaches LoRA, builds the
  // adapter/markers/pooling with torch's current CPU generator, and puts all
  // of it on config.device. With `quantized_decoder`, a GGUF decoder keeps
  // its quantized blocks (DecoderOptions::keep_quantized): inference only,
  // on the CPU.
  explicit E2llmModel(E2llmConfig config, bool quantized_decoder = false);
  ~E2llmModel();

  const E2llmConfig& config() const { return config_; }
  torch::Device device() const { return device_; }
  // The decoder, for training losses over assemble()'s segments.
  CausalLMImpl& decoder() { return *decoder_; }
  const Tokenizer& encoder_tokenizer() const { return *encoder_tokenizer_; }
  const Tokenizer& decoder_tokenizer() const { return *decoder_tokenizer_; }
  int64_t chunk_size() const { return chunk_size_; }

  ChunkedContext chunk_context(std::string_view text) const;
  // Soft tokens of all chunks: [chunks * k, decoder hidden] in the decoder's
  // dtype; autograd flows. While nothing on the encoder side (encoder LoRA,
  // pooling) is trainable, the pooled chunk vectors are remembered per
  // context (up to config().pooled_cache_mb), so the many questions about one
  // document during training or evaluation encode it once.
  // `after_batch` (done, total chunks) runs after each encoder pass.
  torch::Tensor encode_chunks(const ChunkedContext& context,
                              const std::function<void(size_t, size_t)>& after_batch = nullptr);
  // The soft tokens of several contexts, one tensor each as encode_chunks
  // gives it; a trainable encoder side takes all their chunks in shared
  // encoder passes (training several examples at once).
  std::vector<torch::Tensor> encode_contexts(std::span<const ChunkedContext> contexts,
                                             const std::function<void(size_t, size_t)>& after_batch = nullptr);
  // The pooled chunk vectors alone, [chunks, k, H_enc] float32 on the CPU,
  // without autograd (through the same cache): what a store of encoded
  // documents keeps. adapt() turns them (from any device) into soft tokens.
  // `after_batch` (done, total chunks) runs after each encoder pass, not
  // on a cache hit; what it throws stops the encoding.
  torch::Tensor pool_chunks(const ChunkedContext& context,
                            const std::function<void(size_t, size_t)>& after_batch = nullptr);
  // Contexts not encoded again: pooled vectors found in the cache, or (frozen)
  // the last document read again.
  int64_t pooled_cache_hits() const;
  torch::Tensor adapt(const torch::Tensor& pooled);  // [n, k, H_enc] -> [n * k, D]

  // Measures the pooled vectors' per-dimension mean and std over the chunks
  // of `contexts` (at most config().calibration_chunks), for standardize_pooled. Training
  // calls it before the first step; checkpoints store the result.
  void calibrate(const std::vector<std::string>& contexts);

  // The decoder input: prefix, markers around `soft`, the prompt (through
  // prompt_template), then `answer_ids` as training targets when given.
  std::vector<Segment> assemble(const torch::Tensor& soft, const std::string& prompt,
                                const std::vector<int64_t>& answer_ids = {}) const;
  // The document part of that input: prefix, markers and `soft`.
  std::vector<Segment> document_segments(const torch::Tensor& soft) const;
  // The decoder's state after reading them: assemble(soft, prompt) for any
  // prompt continues it (generate()'s `start`).
  ReadDocument read(const torch::Tensor& soft);
  // Decoder ids of `text` (at most max_tokens of them when >= 0), then EOS:
  // a training target.
  std::vector<int64_t> answer_ids(const std::string& text, int64_t max_tokens = -1) const;

  // The answer to `prompt` about `context` (greedy by default). The document
  // is read first (encoded, then prefilled up to its end marker) and the
  // question continues that state; a frozen model (freeze()) remembers the
  // last document's state, so further questions about it in a row prefill
  // only themselves.
  std::string generate(const std::string& context, const std::string& prompt, const AnswerOptions& options = {},
                       AnswerTiming* timing = nullptr);
  // The same for a context already chunked (chunk_context).
  std::string generate(const ChunkedContext& chunked, const std::string& prompt, const AnswerOptions& options = {},
                       AnswerTiming* timing = nullptr);
  // Why the decoder cannot read this text and prompt, or "" when it can: its
  // soft tokens (k per chunk, markers, prefix) and the rendered prompt must
  // leave room for an answer in the decoder's window. Known before encoding;
  // generate() refuses with this message.
  std::string window_overflow(const ChunkedContext& chunked, const std::string& prompt) const;

  // Trainable tensors by checkpoint name: "adapter.*" (with the frozen
  // "adapter.input_mean/input_std" of standardize_pooled), "markers.begin/end",
  // "pooling.*", "encoder_lora.<PEFT key>", "decoder_lora.<PEFT key>".
  std::vector<std::pair<std::string, torch::Tensor>> named_trainable();
  // Every E2LLM-owned tensor (trainable or not) by the same names.
  std::vector<std::pair<std::string, torch::Tensor>> named_state();
  void load_state(const std::map<std::string, torch::Tensor>& tensors);  // strict: names and shapes
  // Folds the LoRA factors into the float base weights of the encoder and of a
  // float decoder (nn::merge_lora; a quantized decoder keeps its side path):
  // the same function up to float rounding, without two extra thin products
  // per layer. For inference only: the factors no longer move what was folded.
  void merge_lora();
  // For inference: no tensor is trainable any more (load_e2llm does this).
  // Only then does generate() remember documents as the decoder read them.
  void freeze();
  bool frozen();
  std::vector<BaseModelIdentity> base_models() const;
  // 16 hex digits over everything that decides the pooled vectors and the
  // soft tokens: the config (its device and answer defaults aside), the base models' identities
  // and every E2LLM tensor. Equal fingerprints, equal vectors for equal text.
  std::string fingerprint();

 private:
  struct Parts;
  // The decoder ids of `prompt` rendered through config().prompt_template.
  std::vector<int64_t> prompt_ids(const std::string& prompt) const;
  // read() of the context's soft tokens, remembered while frozen().
  std::shared_ptr<const ReadDocument> read_context(const ChunkedContext& chunked, const AnswerOptions& options,
                                                   AnswerTiming& t);
  E2llmConfig config_;
  torch::Device device_;
  std::shared_ptr<TextEncoder> encoder_;
  CausalLM decoder_;
  std::unique_ptr<Tokenizer> encoder_tokenizer_, decoder_tokenizer_;
  std::unique_ptr<Parts> parts_;
  int64_t chunk_size_ = 0;
  std::vector<BaseModelIdentity> identities_;
};

// An E2LLM model restored from a checkpoint (root or step folder): config,
// base models (refused when they are not the ones it was trained on) and
// trained weights, for inference. `weights` (the --weights option): "auto"
// runs a GGUF decoder's quantized blocks as they are and everything else in
// the checkpoint's dtype; "quantized" insists on that (a .gguf decoder);
// "float32" / "bfloat16" hold both base models in that dtype instead.
// `device` (parse_device's names) replaces the checkpoint's: a checkpoint
// loads onto any device. Off the CPU, "auto" dequantizes a GGUF decoder and
// "quantized" is an error (the quantized kernels are CPU code).
std::unique_ptr<E2llmModel> load_e2llm(const std::string& checkpoint, const std::string& weights = "auto",
                                       const std::string& device = "cpu");

}  // namespace e2llm
