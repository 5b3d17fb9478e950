// The Hugging Face pipeline: added tokens -> normalizer -> pre-tokenizer ->
// model -> post-processor, and the decoder. Built from a tokenizer.json or,
// for GGUF vocabularies, from parts.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "e2llm/tokenizer/tokenizer.h"
#include "tokenizer/added_vocabulary.h"
#include "tokenizer/decoders.h"
#include "tokenizer/models.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/post_processors.h"
#include "tokenizer/pre_tokenizers.h"

namespace e2llm::text {

struct Pipeline {
  AddedVocabulary added;
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Model> model;
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;
};

class PipelineTokenizer : public Tokenizer {
 public:
  PipelineTokenizer(Pipeline pipeline, SpecialTokenIds special_ids);
  // Everything but the model comes from `j` (a tokenizer.json document).
  static std::unique_ptr<PipelineTokenizer> from_json(const nlohmann::json& j, const std::string& origin);

  std::string decode(std::span<const int64_t> ids, bool skip_special_tokens) const override;
  std::optional<int64_t> token_to_id(std::string_view token) const override;
  std::string id_to_token(int64_t id) const override;
  size_t vocab_size() const override;
  bool is_special(int64_t id) const override;
  void set_file_truncation(std::optional<Truncation> t) { file_truncation_ = t; }
  void set_special_ids(const SpecialTokenIds& ids) { special_ids_ = ids; }

 protected:
  Encoding encode_valid(std::string_view text, bool add_special_tokens) const override;

 private:
  void encode_segment(std::string_view text, size_t begin, size_t end, Encoding& out) const;
  void encode_normalized(NormalizedString piece, Encoding& out) const;
  void guess_special_ids();

  Pipeline p_;
};

// Optional truncation block of a tokenizer.json.
std::optional<Truncation> parse_truncation(const nlohmann::json& j);

}  // namespace e2llm::text
