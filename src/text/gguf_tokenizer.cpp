// Placeholder until the GGUF reader (branch gguf) is merged.
#include "e2llm/error.h"
#include "text/loaders.h"

namespace e2llm::text {

std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path) {
  fail("{}: GGUF vocabularies are not supported yet", path);
}

}  // namespace e2llm::text
