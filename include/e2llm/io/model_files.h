// The small JSON files that travel with a Hugging Face model, read into typed
// structs: generation_config.json (sampling defaults, special token ids),
// tokenizer_config.json (chat template, special tokens), and the architecture
// named by config.json. Every field is optional; a present field of the wrong
// type is an e2llm::Error naming the file and the field. JSON null counts as
// absent, as Hugging Face writes it that way.
//
// Torch-free on purpose: the config fuzzer compiles this with clang alone.
// (The typed BERT/Llama model configs live with the encoder/decoder code.)
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <nlohmann/json_fwd.hpp>

namespace e2llm {

struct GenerationConfig {
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;  // the file may give one id or a list
  std::optional<int64_t> pad_token_id;
  bool do_sample = false;
  double temperature = 1.0;
  int64_t top_k = 50;        // 0 = no top-k filter
  double top_p = 1.0;        // 1 = no nucleus filter
  double min_p = 0.0;        // 0 = no min-p filter
  double repetition_penalty = 1.0;
  std::optional<int64_t> max_new_tokens;
  std::optional<int64_t> max_length;  // prompt + new tokens
};

// `what` names the source (a file path) in error messages.
GenerationConfig parse_generation_config(const nlohmann::json& j, const std::string& what);
GenerationConfig read_generation_config(const std::string& path);

struct ChatTemplateSource {
  std::string name;    // "default" when the file gives a single string
  std::string source;  // Jinja text
};

struct TokenizerConfig {
  std::vector<ChatTemplateSource> chat_templates;
  // Special tokens; the file may give a string or an AddedToken object
  // {"content": ..., ...}; only the content is kept.
  std::optional<std::string> bos_token, eos_token, pad_token, unk_token;
  std::optional<bool> add_bos_token, add_eos_token;
  std::optional<int64_t> model_max_length;  // absent also when the file says "no limit" (1e30)
  std::optional<bool> clean_up_tokenization_spaces;
  bool do_lower_case = false;

  // The named template (or the only/"default" one); nullptr when there is none.
  const ChatTemplateSource* chat_template(const std::string& name = "default") const;
};

TokenizerConfig parse_tokenizer_config(const nlohmann::json& j, const std::string& what);
// Also picks up chat_template.jinja beside the file when the JSON has no template.
TokenizerConfig read_tokenizer_config(const std::string& path);

// What config.json says the model is.
struct ArchitectureInfo {
  std::string architecture;  // architectures[0], e.g. "BertModel", "LlamaForCausalLM"; may be ""
  std::string model_type;    // e.g. "bert", "llama"; may be ""
};
ArchitectureInfo parse_architecture(const nlohmann::json& config, const std::string& what);
ArchitectureInfo read_architecture(const std::string& config_path);

enum class ModelFormat {
  SafeTensorsFolder,  // a Hugging Face folder with model.safetensors or a sharded index
  SafeTensorsFile,    // one .safetensors file
  Gguf,               // one .gguf file
};
// From the folder / the file's magic bytes (not only its extension). Throws
// e2llm::Error naming the path when it is none of these.
ModelFormat detect_model_format(const std::string& path);
const char* model_format_name(ModelFormat format);  // "safetensors folder", ...

// The folder holding a model's JSON side files: the path itself for a folder,
// the file's folder otherwise.
std::string model_side_file_dir(const std::string& path);

}  // namespace e2llm
