#include "e2llm/io/model_files.h"

#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "io/json_fields.h"

namespace e2llm {

namespace {

using nlohmann::json;

using json_fields::optional;
using json_fields::Where;

// Token ids: one integer or a list ("eos_token_id": [1, 106]); absent = none.
std::vector<int64_t> token_id_list(const json& j, const char* name, const std::string& what) {
  const json* v = json_fields::find(j, name, what);
  return v ? json_fields::one_or_list<int64_t>(*v, Where(what, name)) : std::vector<int64_t>{};
}

// "<s>" or {"content": "<s>", "lstrip": false, ...} (the AddedToken form).
std::optional<std::string> special_token(const json& j, const char* name, const std::string& what) {
  const json* v = json_fields::find(j, name, what);
  if (!v) return std::nullopt;
  const Where where(what, name);
  if (v->is_string()) return v->get<std::string>();
  E2LLM_CHECK(v->is_object(), "{} must be a string or a token object, but has the wrong type: {}", where.describe(),
              json_fields::shown(*v));
  auto content = optional<std::string>(*v, "content", where);
  E2LLM_CHECK(content.has_value(), "{}: the token object has no 'content'", where.describe());
  return content;
}

// A string, or [{"name": ..., "template": ...}, ...].
std::vector<ChatTemplateSource> chat_templates(const json& j, const std::string& what) {
  const json* v = json_fields::find(j, "chat_template", what);
  if (!v) return {};
  const Where where(what, "chat_template");
  if (v->is_string()) return {{"default", v->get<std::string>()}};
  E2LLM_CHECK(v->is_array(), "{} must be a string or a list of named templates, but has the wrong type: {}",
              where.describe(), json_fields::shown(*v));
  std::vector<ChatTemplateSource> out;
  for (size_t i = 0; i < v->size(); ++i) {
    const Where entry = where.index(i);
    auto name = optional<std::string>((*v)[i], "name", entry);
    auto source = optional<std::string>((*v)[i], "template", entry);
    E2LLM_CHECK(name && source, "{} needs 'name' and 'template'", entry.describe());
    out.push_back({*name, *source});
  }
  return out;
}

// Hugging Face writes int(1e30) for "no limit", which JSON readers see as a
// float (or, below 2^64, as an unsigned integer): any count that large is no limit.
std::optional<int64_t> model_max_length(const json& j, const std::string& what) {
  const json* v = json_fields::find(j, "model_max_length", what);
  if (v && v->is_number_float() && v->get<double>() >= 1e18) return std::nullopt;
  if (v && v->is_number_unsigned() &&
      v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return std::nullopt;
  return optional<int64_t>(j, "model_max_length", what);
}

std::string file_starting_bytes(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  E2LLM_CHECK(in.good(), "{}: cannot open", path);
  std::string bytes(n, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(n));
  bytes.resize(static_cast<size_t>(in.gcount()));
  return bytes;
}

// u64 little-endian header length then '{': what every safetensors file starts with.
bool looks_like_safetensors(const std::string& head) {
  return head.size() >= 9 && head[8] == '{';
}

}  // namespace

GenerationConfig parse_generation_config(const json& j, const std::string& what) {
  json_fields::require_object(j, what);
  GenerationConfig c;
  c.bos_token_id = optional<int64_t>(j, "bos_token_id", what);
  c.eos_token_ids = token_id_list(j, "eos_token_id", what);
  c.pad_token_id = optional<int64_t>(j, "pad_token_id", what);
  c.do_sample = json_fields::value_or<bool>(j, "do_sample", c.do_sample, what);
  c.temperature = json_fields::value_or<double>(j, "temperature", c.temperature, what);
  c.top_k = json_fields::value_or<int64_t>(j, "top_k", c.top_k, what);
  c.top_p = json_fields::value_or<double>(j, "top_p", c.top_p, what);
  c.min_p = json_fields::value_or<double>(j, "min_p", c.min_p, what);
  c.repetition_penalty = json_fields::value_or<double>(j, "repetition_penalty", c.repetition_penalty, what);
  c.max_new_tokens = optional<int64_t>(j, "max_new_tokens", what);
  c.max_length = optional<int64_t>(j, "max_length", what);
  E2LLM_CHECK(c.temperature >= 0, "{}: 'temperature' is {}, must be >= 0", what, c.temperature);
  E2LLM_CHECK(c.top_k >= 0, "{}: 'top_k' is {}, must be >= 0", what, c.top_k);
  E2LLM_CHECK(c.top_p > 0 && c.top_p <= 1, "{}: 'top_p' is {}, must be in (0, 1]", what, c.top_p);
  E2LLM_CHECK(c.min_p >= 0 && c.min_p <= 1, "{}: 'min_p' is {}, must be in [0, 1]", what, c.min_p);
  E2LLM_CHECK(c.repetition_penalty > 0, "{}: 'repetition_penalty' is {}, must be > 0", what,
              c.repetition_penalty);
  E2LLM_CHECK(!c.max_new_tokens || *c.max_new_tokens >= 0, "{}: 'max_new_tokens' is negative",
              what);
  E2LLM_CHECK(!c.max_length || *c.max_length >= 0, "{}: 'max_length' is negative", what);
  return c;
}

GenerationConfig read_generation_config(const std::string& path) {
  return parse_generation_config(read_json_file(path), path);
}

const ChatTemplateSource* TokenizerConfig::chat_template(const std::string& name) const {
  for (const auto& t : chat_templates)
    if (t.name == name) return &t;
  if (name == "default" && chat_templates.size() == 1) return &chat_templates.front();
  return nullptr;
}

TokenizerConfig parse_tokenizer_config(const json& j, const std::string& what) {
  json_fields::require_object(j, what);
  TokenizerConfig c;
  c.chat_templates = chat_templates(j, what);
  c.bos_token = special_token(j, "bos_token", what);
  c.eos_token = special_token(j, "eos_token", what);
  c.pad_token = special_token(j, "pad_token", what);
  c.unk_token = special_token(j, "unk_token", what);
  c.add_bos_token = optional<bool>(j, "add_bos_token", what);
  c.add_eos_token = optional<bool>(j, "add_eos_token", what);
  c.model_max_length = model_max_length(j, what);
  c.clean_up_tokenization_spaces = optional<bool>(j, "clean_up_tokenization_spaces", what);
  c.do_lower_case = json_fields::value_or<bool>(j, "do_lower_case", false, what);
  return c;
}

TokenizerConfig read_tokenizer_config(const std::string& path) {
  TokenizerConfig c = parse_tokenizer_config(read_json_file(path), path);
  const auto jinja = std::filesystem::path(path).parent_path() / "chat_template.jinja";
  if (c.chat_templates.empty() && file_exists(jinja.string()))
    c.chat_templates.push_back({"default", read_text_file(jinja.string())});
  return c;
}

ArchitectureInfo parse_architecture(const json& config, const std::string& what) {
  json_fields::require_object(config, what);
  ArchitectureInfo info;
  info.model_type = json_fields::value_or<std::string>(config, "model_type", "", what);
  const auto archs = json_fields::value_or<std::vector<std::string>>(config, "architectures", {}, what);
  if (!archs.empty()) info.architecture = archs.front();
  return info;
}

ArchitectureInfo read_architecture(const std::string& config_path) {
  return parse_architecture(read_json_file(config_path), config_path);
}

ModelFormat detect_model_format(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  E2LLM_CHECK(fs::exists(path, ec), "{}: no such file or folder", path);
  if (fs::is_directory(path, ec)) return ModelFormat::SafeTensorsFolder;
  const std::string head = file_starting_bytes(path, 9);
  const std::string ext = fs::path(path).extension().string();
  // A .gguf with a bad magic still goes to the GGUF reader, which says so.
  if (head.rfind("GGUF", 0) == 0 || ext == ".gguf") return ModelFormat::Gguf;
  if (ext == ".safetensors" || looks_like_safetensors(head)) return ModelFormat::SafeTensorsFile;
  fail("{}: not a model folder, .safetensors or .gguf file (unrecognised first bytes)", path);
}

const char* model_format_name(ModelFormat format) {
  switch (format) {
    case ModelFormat::SafeTensorsFolder: return "safetensors folder";
    case ModelFormat::SafeTensorsFile: return "safetensors";
    case ModelFormat::Gguf: return "gguf";
  }
  return "unknown";
}

std::string model_side_file_dir(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) return path;
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

}  // namespace e2llm
