// Tiny random encoder + decoder folders in Hugging Face layout sharing one
// word-level tokenizer, for E2LLM tests.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "e2llm/decoder/decoder.h"
#include "e2llm/e2llm/e2llm_config.h"
#include "e2llm/encoder/encoder.h"
#include "e2llm/io/fs.h"
#include "support/random_models.h"

namespace e2llm::test {

struct TinyModels {
  std::string encoder, decoder;
  int64_t vocab_size = 0;
};

// [PAD] [UNK] [CLS] [SEP] [EOS] then `words`; split on whitespace.
inline std::string word_level_tokenizer_json(const std::vector<std::string>& words) {
  const std::vector<std::string> specials = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[EOS]"};
  nlohmann::json vocab = nlohmann::json::object(), added = nlohmann::json::array();
  for (size_t i = 0; i < specials.size(); ++i) {
    vocab[specials[i]] = i;
    added.push_back({{"id", i}, {"content", specials[i]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  }
  for (const auto& w : words) vocab[w] = vocab.size();
  nlohmann::json j = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "WhitespaceSplit"}}},
      {"post_processor", {{"type", "BertProcessing"}, {"sep", {"[SEP]", 3}}, {"cls", {"[CLS]", 2}}}},
      {"decoder", nullptr},
      {"model", {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", "[UNK]"}}}};
  return j.dump();
}

inline TinyModels write_tiny_models(const std::string& root, const std::vector<std::string>& words,
                                    int64_t decoder_window) {
  TinyModels m{root + "/encoder", root + "/decoder", static_cast<int64_t>(words.size()) + 5};
  const std::string tokenizer = word_level_tokenizer_json(words);
  EncoderConfig enc = tiny_encoder_config(EncoderFamily::kBert);
  enc.vocab_size = m.vocab_size;
  enc.max_position_embeddings = 64;
  enc.pad_token_id = 0;
  write_random_encoder(m.encoder, enc, 1);
  write_file_atomic(m.encoder + "/tokenizer.json", tokenizer);
  DecoderConfig dec = tiny_decoder_config(DecoderFamily::Llama);
  dec.vocab_size = m.vocab_size;
  dec.max_position_embeddings = decoder_window;
  dec.eos_token_ids = {4};
  dec.pad_token_id = 0;
  dec.bos_token_id.reset();
  write_random_decoder(m.decoder, dec, 2);
  write_file_atomic(m.decoder + "/tokenizer.json", tokenizer);
  return m;
}

// The E2LLM setting the CLI-level tests train on the tiny models: 30-token
// chunks, 2 segments per chunk, LoRA rank 4 on both sides, both tasks.
inline E2llmConfig tiny_e2llm_config(const TinyModels& m) {
  E2llmConfig c;
  c.encoder_path = m.encoder;
  c.decoder_path = m.decoder;
  c.chunker.chunk_size = 30;
  c.pooling = {PoolingMode::kSegments, 2, 4, false};
  c.encoder_lora_rank = 4;
  c.decoder_lora_rank = 4;
  c.alpha = 0.5;
  return c;
}

}  // namespace e2llm::test
