// e2llm embed: JSON Lines {"text": ...} (or {"ids": [...]}, already tokenized)
// on stdin -> {"embedding": [...]} per line on stdout, in input order.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include "command.h"
#include "e2llm/encoder/encoder.h"
#include "e2llm/core/error.h"
#include "e2llm/core/runtime.h"
#include "e2llm/tokenizer/tokenizer.h"

namespace e2llm::cli {
namespace {

struct EmbedOptions {
  std::string model;
  std::string pooling;  // empty: the model's sentence-transformers pooling, else mean
  std::string pooler_file;
  int64_t k = 1;
  bool normalize = false;
  int64_t batch_size = 64;
  int64_t max_batch_tokens = 16384;
  int64_t max_tokens = 0;  // 0: sentence_bert_config.json's max_seq_length, else the model's positions
  std::string dtype = "f32";
};

// Turns each input line into token ids: "ids" as given, "text" through the model's tokenizer.
class LineTokenizer {
 public:
  LineTokenizer(const std::string& folder, int64_t max_tokens, const TextEncoder& encoder)
      : folder_(folder), max_tokens_(max_tokens), positions_(encoder.max_tokens()),
        vocab_size_(encoder.config().vocab_size) {}

  std::vector<int64_t> operator()(const nlohmann::json& line, size_t line_no) {
    if (line.contains("ids")) return given_ids(line["ids"], line_no);
    E2LLM_CHECK(line.contains("text") && line["text"].is_string(),
                "stdin line {}: expected an object with a string field 'text' (or 'ids')", line_no);
    if (!tokenizer_) {
      tokenizer_ = Tokenizer::from_file(folder_);
      // Chunks longer than the position table are cut, as sentence-transformers does.
      if (max_tokens_ > 0) tokenizer_->set_truncation(Truncation{static_cast<size_t>(max_tokens_)});
    }
    return tokenizer_->encode(line["text"].get<std::string>()).ids;
  }

 private:
  // Checked here, where the line is known: the encoder would only name a
  // position in a sorted batch of hundreds.
  std::vector<int64_t> given_ids(const nlohmann::json& ids, size_t line_no) const {
    E2LLM_CHECK(ids.is_array() && !ids.empty(), "stdin line {}: 'ids' must be a non-empty array of integers", line_no);
    E2LLM_CHECK(positions_ < 0 || static_cast<int64_t>(ids.size()) <= positions_,
                "stdin line {}: {} ids, more than the model's {} positions", line_no, ids.size(), positions_);
    std::vector<int64_t> out;
    for (const nlohmann::json& id : ids) {
      E2LLM_CHECK(id.is_number_integer(), "stdin line {}: 'ids' item {} is not an integer", line_no, out.size());
      const auto value = id.get<int64_t>();
      E2LLM_CHECK(value >= 0 && value < vocab_size_, "stdin line {}: id {} is outside the model's vocabulary of {}",
                  line_no, value, vocab_size_);
      out.push_back(value);
    }
    return out;
  }

  std::string folder_;
  int64_t max_tokens_;  // kept of a text
  int64_t positions_;   // of given ids; < 0: no limit (RoPE)
  int64_t vocab_size_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

Pooler make_pooler(const EmbedOptions& o, const TextEncoder& encoder) {
  if (!o.pooler_file.empty()) return load_pooler(o.pooler_file);
  PoolingConfig config = encoder.default_pooling().value_or(PoolingConfig{});
  if (!o.pooling.empty()) {
    config.mode = parse_pooling_mode(o.pooling);
    E2LLM_CHECK(config.mode != PoolingMode::kAttention,
                "--pooling attention needs trained weights: give --pooler FILE instead (the file holds its "
                "pooling)");
    config.k = o.k;
  }
  if (o.normalize) config.normalize = true;
  return Pooler(config, encoder.hidden_size());
}

// Tokens kept per text, as sentence-transformers keeps them unless told otherwise.
int64_t truncation_length(const EmbedOptions& o, const TextEncoder& encoder) {
  const int64_t positions = encoder.max_tokens();  // < 0: no position limit (RoPE)
  const int64_t wanted = o.max_tokens > 0 ? o.max_tokens : read_sentence_transformers_max_length(o.model).value_or(positions);
  E2LLM_CHECK(positions < 0 || wanted <= positions, "--max-tokens {} exceeds the model's {} positions", wanted,
              positions);
  return wanted;
}

void write_embeddings(const torch::Tensor& pooled) {
  torch::Tensor cpu = pooled.to(torch::kCPU, torch::kFloat32).contiguous();
  for (int64_t i = 0; i < cpu.size(0); ++i) {
    nlohmann::json vectors = nlohmann::json::array();
    for (int64_t j = 0; j < cpu.size(1); ++j) {
      const float* v = cpu[i][j].data_ptr<float>();
      vectors.push_back(std::vector<float>(v, v + cpu.size(2)));
    }
    nlohmann::json out = {{"embedding", cpu.size(1) == 1 ? vectors[0] : vectors}};
    std::fputs((out.dump() + "\n").c_str(), stdout);
  }
  std::fflush(stdout);
}

void run_embed(const EmbedOptions& o) {
  E2LLM_CHECK(o.dtype == "f32" || o.dtype == "bf16", "--dtype must be f32 or bf16, got '{}'", o.dtype);
  EncoderOptions options{o.dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32,
                         parse_device(global_options().device)};
  TextEncoder encoder = TextEncoder::load(o.model, options);
  Pooler pooler = make_pooler(o, encoder);
  pooler->to(options.device);
  LineTokenizer tokenize(o.model, truncation_length(o, encoder), encoder);
  const BatchingOptions batching{o.max_batch_tokens, o.batch_size};
  torch::InferenceMode inference;
  std::vector<std::vector<int64_t>> pending;
  auto flush = [&] {
    if (!pending.empty()) write_embeddings(encoder.encode_tokens(pending, pooler, batching));
    pending.clear();
  };
  std::string text;
  for (size_t line_no = 1; std::getline(std::cin, text); ++line_no) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json line;
    try {
      line = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      fail("stdin line {}: not JSON ({})", line_no, e.what());
    }
    pending.push_back(tokenize(line, line_no));
    // Enough chunks to fill several batches are sorted together, then written.
    if (static_cast<int64_t>(pending.size()) >= 8 * o.batch_size) flush();
  }
  flush();
}

CommandRegistrar registrar("embed", [](CLI::App& app) {
  auto o = std::make_shared<EmbedOptions>();
  auto* cmd = app.add_subcommand("embed", "Embed JSON Lines {\"text\": ...} from stdin with a text encoder");
  add_model_option(cmd, o->model, "Hugging Face encoder folder (BERT, XLM-RoBERTa, GTE-v1.5)")->required();
  auto* pooling = cmd->add_option("--pooling", o->pooling,
                                  "cls, mean or segments (default: the folder's sentence-transformers pooling, "
                                  "else mean)");
  cmd->add_option("--k", o->k, "Vectors per text for --pooling segments")
      ->check(positive_number())
      ->capture_default_str()
      ->needs(pooling);
  cmd->add_option("--pooler", o->pooler_file, "Trained pooler (.safetensors from save_pooler), e.g. attention")
      ->excludes(pooling);
  cmd->add_flag("--normalize", o->normalize, "L2-normalize every vector");
  cmd->add_option("--batch-size", o->batch_size, "Most texts per forward pass")->capture_default_str()
      ->check(positive_number());
  cmd->add_option("--max-tokens", o->max_tokens,
                  "Tokens kept per text, [CLS]/[SEP] included (default: sentence_bert_config.json's max_seq_length, "
                  "else the model's position limit)")
      ->check(positive_number());
  cmd->add_option("--max-batch-tokens", o->max_batch_tokens, "Most batch x padded-length tokens per forward pass")
      ->capture_default_str()->check(positive_number());
  cmd->add_option("--dtype", o->dtype, "f32 or bf16 weights and compute")->capture_default_str();
  cmd->callback([o] { run_embed(*o); });
});

}  // namespace
}  // namespace e2llm::cli
