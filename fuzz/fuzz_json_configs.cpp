// libFuzzer target: the JSON side-file readers (generation_config.json,
// tokenizer_config.json, config.json's architecture) on arbitrary bytes. Any
// outcome other than a parsed config or e2llm::Error is a bug. Owners of other
// config parsers (encoder/decoder configs) may add theirs here.
// fuzz-sources: src/io/model_files.cpp src/io/json_fields.cpp src/io/fs.cpp
#include <cstdint>
#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "e2llm/io/model_files.h"

namespace {

template <typename Parse>
void try_parse(Parse parse) {
  try {
    parse();
  } catch (const e2llm::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  try_parse([&] { e2llm::parse_generation_config(j, "fuzz"); });
  try_parse([&] {
    const e2llm::TokenizerConfig t = e2llm::parse_tokenizer_config(j, "fuzz");
    t.chat_template("default");
  });
  try_parse([&] { e2llm::parse_architecture(j, "fuzz"); });
  return 0;
}
