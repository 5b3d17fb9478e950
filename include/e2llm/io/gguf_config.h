// The config.json transformers derives from a GGUF file's metadata
// (load_gguf_checkpoint()["config"]) for llama and gemma3, plus bos/eos/pad
// token ids from tokenizer.ggml.*. Torch-free: it takes the parsed header
// (gguf_format.h), so that it is fuzzed; gguf.h has the GgufFile overload.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <string>

#include "e2llm/io/gguf_format.h"

namespace e2llm {

// Throws for other architectures and for metadata of the wrong type;
// `path` names the file in messages.
nlohmann::json gguf_to_hf_config(const GgufHeader& header, const std::string& path);

}  // namespace e2llm
