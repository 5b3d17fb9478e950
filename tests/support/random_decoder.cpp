// Small random decoders in exactly the Hugging Face layout (config.json +
// model.safetensors with HF tensor names), for tests that need a model of a
// given family without shipping one.
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "e2llm/decoder/decoder.h"
#include "e2llm/io/fs.h"
#include "random_models.h"
#include "e2llm/io/safetensors.h"

namespace e2llm {

DecoderConfig tiny_decoder_config(DecoderFamily family) {
  nlohmann::json j = {{"model_type", to_string(family)},
                      {"vocab_size", 256},
                      {"hidden_size", 64},
                      {"intermediate_size", 128},
                      {"num_hidden_layers", 2},
                      {"num_attention_heads", 4},
                      {"num_key_value_heads", 2},
                      {"head_dim", 16},
                      {"max_position_embeddings", 128},
                      {"rms_norm_eps", 1e-6},
                      {"bos_token_id", 0},
                      {"eos_token_id", 1}};
  switch (family) {
    case DecoderFamily::Llama: break;
    case DecoderFamily::Mistral: j["sliding_window"] = 8; break;
    case DecoderFamily::Qwen2: j["tie_word_embeddings"] = true; break;
    case DecoderFamily::Qwen3: break;
    case DecoderFamily::Gemma3:
      j["query_pre_attn_scalar"] = 16;
      j["sliding_window"] = 4;
      j["layer_types"] = {"sliding_attention", "full_attention"};
      break;
  }
  return DecoderConfig::from_json(j, "tiny_decoder_config");
}

namespace {

class RandomTensors {
 public:
  explicit RandomTensors(uint64_t seed) : gen_(at::detail::createCPUGenerator(seed)) {}
  torch::Tensor normal(std::vector<int64_t> shape, double std) {
    return at::normal(0.0, std, shape, gen_);
  }
  void linear(std::map<std::string, torch::Tensor>& out, const std::string& name, int64_t in, int64_t out_features,
              bool bias) {
    out[name + ".weight"] = normal({out_features, in}, 1.0 / std::sqrt(static_cast<double>(in)));
    if (bias) out[name + ".bias"] = normal({out_features}, 0.1);
  }
  // Norm weights near their identity value (1 for w, 0 for Gemma's 1 + w),
  // perturbed so that tests notice a norm applied wrongly.
  torch::Tensor norm(int64_t n, bool gemma) { return normal({n}, 0.1) + (gemma ? 0.0 : 1.0); }

 private:
  at::Generator gen_;
};

}  // namespace

void write_random_decoder(const std::string& folder, const DecoderConfig& c, uint64_t seed) {
  c.validate(folder);
  RandomTensors rnd(seed);
  std::map<std::string, torch::Tensor> t;
  int64_t H = c.hidden_size, q_out = c.num_heads * c.head_dim, kv_out = c.num_kv_heads * c.head_dim;
  t["model.embed_tokens.weight"] = rnd.normal({c.vocab_size, H}, c.gemma_norms ? 0.1 : 1.0);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".";
    rnd.linear(t, p + "self_attn.q_proj", H, q_out, c.q_bias);
    rnd.linear(t, p + "self_attn.k_proj", H, kv_out, c.k_bias);
    rnd.linear(t, p + "self_attn.v_proj", H, kv_out, c.v_bias);
    rnd.linear(t, p + "self_attn.o_proj", q_out, H, c.o_bias);
    if (c.qk_norm) {
      t[p + "self_attn.q_norm.weight"] = rnd.norm(c.head_dim, c.gemma_norms);
      t[p + "self_attn.k_norm.weight"] = rnd.norm(c.head_dim, c.gemma_norms);
    }
    rnd.linear(t, p + "mlp.gate_proj", H, c.intermediate_size, c.mlp_bias);
    rnd.linear(t, p + "mlp.up_proj", H, c.intermediate_size, c.mlp_bias);
    rnd.linear(t, p + "mlp.down_proj", c.intermediate_size, H, c.mlp_bias);
    t[p + "input_layernorm.weight"] = rnd.norm(H, c.gemma_norms);
    t[p + "post_attention_layernorm.weight"] = rnd.norm(H, c.gemma_norms);
    if (c.gemma_norms) {
      t[p + "pre_feedforward_layernorm.weight"] = rnd.norm(H, true);
      t[p + "post_feedforward_layernorm.weight"] = rnd.norm(H, true);
    }
  }
  t["model.norm.weight"] = rnd.norm(H, c.gemma_norms);
  if (!c.tie_word_embeddings) rnd.linear(t, "lm_head", H, c.vocab_size, false);
  std::filesystem::create_directories(folder);
  write_file_atomic(folder + "/config.json", c.to_json().dump(2));
  save_safetensors(folder + "/model.safetensors", t, {{"format", "pt"}});
}

}  // namespace e2llm
