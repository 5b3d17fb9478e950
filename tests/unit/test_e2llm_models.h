// Tiny random encoder + decoder folders in Hugging Face layout sharing one
// word-level tokenizer, for E2LLM tests.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "e2llm/decoder/decoder.h"
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

}  // namespace e2llm::test
