// generate() with a real tokenizer: its StreamDecoder turns ids into text.
#include "e2llm/generate/generate.h"
#include "e2llm/tokenizer/tokenizer.h"
#include "generate/generating_sequence.h"

namespace e2llm {
namespace {

class StreamingTokenizerDecoder : public TokenTextDecoder {
 public:
  explicit StreamingTokenizerDecoder(const Tokenizer& tokenizer) : stream_(tokenizer, /*skip_special_tokens=*/true) {}
  std::string push(int64_t id) override { return stream_.push(id); }
  std::string finish() override { return stream_.finish(); }

 private:
  StreamDecoder stream_;
};

}  // namespace

std::unique_ptr<TokenTextDecoder> make_text_decoder(const Tokenizer& tokenizer) {
  return std::make_unique<StreamingTokenizerDecoder>(tokenizer);
}

GenerateResult generate(CausalLMImpl& lm, const Tokenizer& tokenizer, const std::vector<Segment>& prompt,
                        const GenerateOptions& options, const PromptState* start) {
  StreamingTokenizerDecoder decoder(tokenizer);
  return generate(lm, prompt, decoder, options, start);
}

GenerateResult PromptPrefixCache::generate(const Tokenizer& tokenizer, const std::vector<int64_t>& ids,
                                           const GenerateOptions& options) {
  StreamingTokenizerDecoder decoder(tokenizer);
  return generate(ids, decoder, options);
}

}  // namespace e2llm
