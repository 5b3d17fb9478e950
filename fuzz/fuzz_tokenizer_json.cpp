// libFuzzer target: a tokenizer.json on arbitrary bytes, through
// Tokenizer::from_json_string (models, normalizers, pre-tokenizers with their
// PCRE2 patterns, post-processors, decoders, added tokens). It must either be
// refused with e2llm::Error or give a tokenizer that encodes a fixed text and
// decodes the ids (all at once and streamed), or refuses those with
// e2llm::Error. Anything else (a crash, a hang, a sanitizer report, another
// exception, an offset outside the text) is a bug.
// fuzz-sources: src/tokenizer/tokenizer.cpp src/tokenizer/pipeline_tokenizer.cpp src/tokenizer/added_vocabulary.cpp src/tokenizer/byte_level.cpp src/tokenizer/decoders.cpp src/tokenizer/models.cpp src/tokenizer/model_bpe.cpp src/tokenizer/model_unigram.cpp src/tokenizer/model_wordpiece.cpp src/tokenizer/normalized_string.cpp src/tokenizer/normalizers.cpp src/tokenizer/pattern.cpp src/tokenizer/post_processors.cpp src/tokenizer/pre_tokenizers.cpp src/tokenizer/regex.cpp src/tokenizer/unicode.cpp src/core/utf8.cpp src/io/json_fields.cpp src/io/fs.cpp
// fuzz-libs: icu-uc libpcre2-8
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "e2llm/core/error.h"
#include "e2llm/tokenizer/tokenizer.h"
#include "tokenizer/loaders.h"

// The other tokenizer sources are not part of this target (a GGUF vocabulary
// comes with LibTorch, SentencePiece through a dlopen()ed shim);
// Tokenizer::from_file refers to them, from_json_string never reaches them.
namespace e2llm::text {
std::unique_ptr<Tokenizer> load_sentencepiece_model(const std::string& path) {
  fail("{}: SentencePiece is not part of the fuzz build", path);
}
std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path) {
  fail("{}: GGUF is not part of the fuzz build", path);
}
}  // namespace e2llm::text

namespace {

// Words, punctuation, digits, accents (composed and not), CJK, an emoji, a
// BERT and a Llama special token, runs of spaces, tabs and newlines.
constexpr std::string_view kText =
    "Hello, world!  The quick brown fox's 12345 jumps.\n\tCaf\xC3\xA9 cafe\xCC\x81 "
    "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E [CLS] <s> \xF0\x9F\x98\x80 end.";

void exercise(const e2llm::Tokenizer& tok, bool add_special_tokens) {
  const e2llm::Encoding e = tok.encode(kText, add_special_tokens);
  const size_t n = e.ids.size();
  if (e.tokens.size() != n || e.offsets.size() != n || e.byte_offsets.size() != n || e.type_ids.size() != n ||
      e.attention_mask.size() != n || e.special_tokens_mask.size() != n)
    std::abort();  // the parts of an encoding disagree
  for (const auto& [begin, end] : e.byte_offsets)
    if (begin > end || end > kText.size()) std::abort();  // a span outside the text
  (void)tok.decode(e.ids, true);
  (void)tok.decode(e.ids, false);
  for (int64_t id : e.ids) (void)tok.is_special(id);
  e2llm::StreamDecoder stream(tok);
  for (int64_t id : e.ids) (void)stream.push(id);
  (void)stream.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<e2llm::Tokenizer> tok;
  try {
    tok = e2llm::Tokenizer::from_json_string(std::string_view(reinterpret_cast<const char*>(data), size),
                                             "fuzz/tokenizer.json");
  } catch (const e2llm::Error&) {
    return 0;
  }
  for (bool add_special_tokens : {true, false}) {
    try {
      exercise(*tok, add_special_tokens);
    } catch (const e2llm::Error&) {
    }
  }
  return 0;
}
