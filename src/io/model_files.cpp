#include "e2llm/model_files.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "e2llm/error.h"
#include "e2llm/fs.h"

namespace e2llm {

namespace {

using nlohmann::json;

// Field readers: an absent or null field is nullopt, a present one of the
// wrong type an error naming the source and the field.
const json* field(const json& j, const char* name) {
  auto it = j.find(name);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

// Integers may be written as 20 or 20.0; anything else is refused.
int64_t as_int(const json& v, const std::string& what, const std::string& name) {
  if (v.is_number_unsigned()) {
    E2LLM_CHECK(v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                "{}: '{}' is {}, too large", what, name, v.get<uint64_t>());
    return static_cast<int64_t>(v.get<uint64_t>());
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    E2LLM_CHECK(std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18,
                "{}: '{}' is {}, not an integer", what, name, d);
    return static_cast<int64_t>(d);
  }
  fail("{}: '{}' should be an integer, not {}", what, name, v.type_name());
}

std::optional<int64_t> opt_int(const json& j, const char* name, const std::string& what) {
  const json* v = field(j, name);
  return v ? std::optional<int64_t>(as_int(*v, what, name)) : std::nullopt;
}

std::optional<double> opt_number(const json& j, const char* name, const std::string& what) {
  const json* v = field(j, name);
  if (!v) return std::nullopt;
  E2LLM_CHECK(v->is_number(), "{}: '{}' should be a number, not {}", what, name, v->type_name());
  return v->get<double>();
}

std::optional<bool> opt_bool(const json& j, const char* name, const std::string& what) {
  const json* v = field(j, name);
  if (!v) return std::nullopt;
  E2LLM_CHECK(v->is_boolean(), "{}: '{}' should be true or false, not {}", what, name,
              v->type_name());
  return v->get<bool>();
}

std::optional<std::string> opt_string(const json& j, const char* name, const std::string& what) {
  const json* v = field(j, name);
  if (!v) return std::nullopt;
  E2LLM_CHECK(v->is_string(), "{}: '{}' should be a string, not {}", what, name, v->type_name());
  return v->get<std::string>();
}

void require_object(const json& j, const std::string& what) {
  E2LLM_CHECK(j.is_object(), "{}: should hold a JSON object, not {}", what, j.type_name());
}

std::vector<int64_t> token_id_list(const json& j, const char* name, const std::string& what) {
  const json* v = field(j, name);
  if (!v) return {};
  if (!v->is_array()) return {as_int(*v, what, name)};
  std::vector<int64_t> ids;
  for (size_t i = 0; i < v->size(); ++i)
    ids.push_back(as_int((*v)[i], what, fmt::format("{}[{}]", name, i)));
  return ids;
}

// "<s>" or {"content": "<s>", "lstrip": false, ...} (the AddedToken form).
std::optional<std::string> special_token(const json& j, const char* name, const std::string& what) {
  const json* v = field(j, name);
  if (!v) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  E2LLM_CHECK(v->is_object(), "{}: '{}' should be a string or a token object, not {}", what, name,
              v->type_name());
  auto content = opt_string(*v, "content", what + " '" + name + "'");
  E2LLM_CHECK(content.has_value(), "{}: '{}' token object has no 'content'", what, name);
  return content;
}

// A string, or [{"name": ..., "template": ...}, ...].
std::vector<ChatTemplate> chat_templates(const json& j, const std::string& what) {
  const json* v = field(j, "chat_template");
  if (!v) return {};
  if (v->is_string()) return {{"default", v->get<std::string>()}};
  E2LLM_CHECK(v->is_array(), "{}: 'chat_template' should be a string or a list, not {}", what,
              v->type_name());
  std::vector<ChatTemplate> out;
  for (size_t i = 0; i < v->size(); ++i) {
    const json& entry = (*v)[i];
    const std::string where = fmt::format("{} chat_template[{}]", what, i);
    require_object(entry, where);
    auto name = opt_string(entry, "name", where);
    auto source = opt_string(entry, "template", where);
    E2LLM_CHECK(name && source, "{}: needs 'name' and 'template'", where);
    out.push_back({*name, *source});
  }
  return out;
}

// Hugging Face writes int(1e30) for "no limit", which JSON readers see as a float.
std::optional<int64_t> model_max_length(const json& j, const std::string& what) {
  const json* v = field(j, "model_max_length");
  if (v && v->is_number_float() && v->get<double>() >= 1e18) return std::nullopt;
  if (v && v->is_number_unsigned() &&
      v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return std::nullopt;
  return opt_int(j, "model_max_length", what);
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
  require_object(j, what);
  GenerationConfig c;
  c.bos_token_id = opt_int(j, "bos_token_id", what);
  c.eos_token_ids = token_id_list(j, "eos_token_id", what);
  c.pad_token_id = opt_int(j, "pad_token_id", what);
  c.do_sample = opt_bool(j, "do_sample", what).value_or(c.do_sample);
  c.temperature = opt_number(j, "temperature", what).value_or(c.temperature);
  c.top_k = opt_int(j, "top_k", what).value_or(c.top_k);
  c.top_p = opt_number(j, "top_p", what).value_or(c.top_p);
  c.min_p = opt_number(j, "min_p", what).value_or(c.min_p);
  c.repetition_penalty = opt_number(j, "repetition_penalty", what).value_or(c.repetition_penalty);
  c.max_new_tokens = opt_int(j, "max_new_tokens", what);
  c.max_length = opt_int(j, "max_length", what);
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

const ChatTemplate* TokenizerConfig::chat_template(const std::string& name) const {
  for (const auto& t : chat_templates)
    if (t.name == name) return &t;
  if (name == "default" && chat_templates.size() == 1) return &chat_templates.front();
  return nullptr;
}

TokenizerConfig parse_tokenizer_config(const json& j, const std::string& what) {
  require_object(j, what);
  TokenizerConfig c;
  c.chat_templates = chat_templates(j, what);
  c.bos_token = special_token(j, "bos_token", what);
  c.eos_token = special_token(j, "eos_token", what);
  c.pad_token = special_token(j, "pad_token", what);
  c.unk_token = special_token(j, "unk_token", what);
  c.add_bos_token = opt_bool(j, "add_bos_token", what);
  c.add_eos_token = opt_bool(j, "add_eos_token", what);
  c.model_max_length = model_max_length(j, what);
  c.clean_up_tokenization_spaces = opt_bool(j, "clean_up_tokenization_spaces", what);
  c.do_lower_case = opt_bool(j, "do_lower_case", what).value_or(false);
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
  require_object(config, what);
  ArchitectureInfo info;
  info.model_type = opt_string(config, "model_type", what).value_or("");
  if (const json* archs = field(config, "architectures")) {
    E2LLM_CHECK(archs->is_array(), "{}: 'architectures' should be a list, not {}", what,
                archs->type_name());
    if (!archs->empty()) {
      E2LLM_CHECK((*archs)[0].is_string(), "{}: 'architectures[0]' should be a string", what);
      info.architecture = (*archs)[0].get<std::string>();
    }
  }
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
