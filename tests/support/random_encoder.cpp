// Small random encoders in exactly Hugging Face's on-disk layout, for tests
// that need a model (the E2LLM learning test trains a tiny one end to end).
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>

#include "e2llm/encoder/encoder.h"
#include "e2llm/io/fs.h"
#include "random_models.h"
#include "e2llm/io/safetensors.h"

namespace e2llm {
namespace {

class RandomTensors {
 public:
  explicit RandomTensors(uint64_t seed) : generator_(at::detail::createCPUGenerator(seed)) {}

  void normal(const std::string& name, std::vector<int64_t> shape, double std) {
    tensors_[name] = torch::randn(shape, generator_, torch::kFloat32) * std;
  }
  // LayerNorm around the identity, perturbed so a wrong weight/bias shows in outputs.
  void norm(const std::string& path, int64_t size, bool with_bias = true) {
    tensors_[path + ".weight"] = 1.0 + torch::randn({size}, generator_, torch::kFloat32) * 0.1;
    if (with_bias) normal(path + ".bias", {size}, 0.1);
  }
  void linear(const std::string& path, int64_t out, int64_t in, bool bias = true) {
    normal(path + ".weight", {out, in}, 0.08);
    if (bias) normal(path + ".bias", {out}, 0.02);
  }
  const std::map<std::string, torch::Tensor>& tensors() const { return tensors_; }

 private:
  at::Generator generator_;
  std::map<std::string, torch::Tensor> tensors_;
};

void add_embeddings(RandomTensors& r, const EncoderConfig& c) {
  const int64_t h = c.hidden_size;
  r.normal("embeddings.word_embeddings.weight", {c.vocab_size, h}, 0.5);
  if (c.position_embedding_type == "absolute")
    r.normal("embeddings.position_embeddings.weight", {c.max_position_embeddings, h}, 0.5);
  if (c.type_vocab_size > 0) r.normal("embeddings.token_type_embeddings.weight", {c.type_vocab_size, h}, 0.5);
  r.norm("embeddings.LayerNorm", h);
}

void add_bert_layer(RandomTensors& r, const EncoderConfig& c, const std::string& p) {
  const int64_t h = c.hidden_size, inter = c.intermediate_size;
  for (const char* name : {"query", "key", "value"}) r.linear(p + "attention.self." + name, h, h);
  r.linear(p + "attention.output.dense", h, h);
  r.norm(p + "attention.output.LayerNorm", h);
  r.linear(p + "intermediate.dense", inter, h);
  r.linear(p + "output.dense", h, inter);
  r.norm(p + "output.LayerNorm", h);
}

void add_gte_layer(RandomTensors& r, const EncoderConfig& c, const std::string& p) {
  const int64_t h = c.hidden_size, inter = c.intermediate_size;
  if (c.pack_qkv) {
    r.linear(p + "attention.qkv_proj", 3 * h, h);
  } else {
    for (const char* name : {"q_proj", "k_proj", "v_proj"}) r.linear(p + "attention." + name, h, h);
  }
  r.linear(p + "attention.o_proj", h, h);
  r.linear(p + "mlp.up_gate_proj", 2 * inter, h, /*bias=*/false);
  r.linear(p + "mlp.down_proj", h, inter);
  const bool rms = c.layer_norm_type == "rms_norm";
  r.norm(p + "attn_ln", h, !rms);
  r.norm(p + "mlp_ln", h, !rms);
}

}  // namespace

EncoderConfig tiny_encoder_config(EncoderFamily family) {
  EncoderConfig c;
  c.family = family;
  c.vocab_size = 128;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.intermediate_size = 64;
  c.max_position_embeddings = 80;
  c.layer_norm_eps = 1e-12;
  if (family == EncoderFamily::kXlmRoberta) {
    c.pad_token_id = 1;
    c.type_vocab_size = 1;
    c.layer_norm_eps = 1e-5;
  }
  if (family == EncoderFamily::kGte) {
    c.position_embedding_type = "rope";
    c.rope_theta = 500.0;
    c.rope_scaling = RopeScaling{"ntk", 2.0, std::nullopt};
  }
  c.validate("tiny_encoder_config");
  return c;
}

void write_random_encoder(const std::string& folder, const EncoderConfig& config, uint64_t seed) {
  config.validate(folder + "/config.json");
  std::filesystem::create_directories(folder);
  RandomTensors r(seed);
  add_embeddings(r, config);
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    if (config.family == EncoderFamily::kGte) add_gte_layer(r, config, p);
    else add_bert_layer(r, config, p);
  }
  // BertModel / XLMRobertaModel carry a pooler by default (NewModel does not).
  if (config.family != EncoderFamily::kGte) r.linear("pooler.dense", config.hidden_size, config.hidden_size);
  save_safetensors(folder + "/model.safetensors", r.tensors(), {{"format", "pt"}});
  write_file_atomic(folder + "/config.json", config.to_json().dump(2) + "\n");
}

}  // namespace e2llm
