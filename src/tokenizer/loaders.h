// The tokenizer sources other than tokenizer.json, each in its own file.
#pragma once
#include <memory>
#include <string>

#include "e2llm/tokenizer/tokenizer.h"

namespace e2llm::text {

// A SentencePiece tokenizer.model, through the dlopen()ed shim (spm_tokenizer.cpp).
std::unique_ptr<Tokenizer> load_sentencepiece_model(const std::string& path);
// The vocabulary a GGUF file embeds (gguf_tokenizer.cpp).
std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path);

}  // namespace e2llm::text
