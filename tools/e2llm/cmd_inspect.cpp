// e2llm inspect PATH: what a model folder, .safetensors or .gguf holds:
// format, architecture, parameter count, dtypes, tensor table, metadata.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "command.h"
#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "e2llm/io/model_files.h"
#include "e2llm/io/weights.h"

namespace e2llm::cli {
namespace {

struct InspectOptions {
  std::string path;
  bool json = false;
  bool tensors = true;
  bool metadata = false;
};

struct DtypeCount {
  int64_t tensors = 0;
  int64_t elements = 0;
};

struct ModelSummary {
  std::string format;
  ArchitectureInfo arch;
  int64_t parameters = 0;  // elements of floating-point and quantized tensors
  std::vector<TensorMeta> tensors;
  std::map<std::string, DtypeCount> dtypes;
  std::map<std::string, std::string> metadata;
  std::optional<GenerationConfig> generation;
  std::optional<TokenizerConfig> tokenizer;
};

// Integer and bool tensors are buffers (position ids, masks), not parameters.
bool is_parameter_dtype(const std::string& dtype) {
  return !(dtype == "BOOL" || (dtype.size() >= 2 && (dtype[0] == 'I' || dtype[0] == 'U') &&
                               std::isdigit(static_cast<unsigned char>(dtype[1]))));
}

int64_t element_count(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// GGUF says it in its metadata; safetensors leave it to config.json beside them.
ArchitectureInfo find_architecture(const std::string& path, ModelFormat format,
                                   const std::map<std::string, std::string>& metadata) {
  ArchitectureInfo info;
  if (format == ModelFormat::Gguf) {
    if (auto it = metadata.find("general.architecture"); it != metadata.end())
      info.model_type = info.architecture = it->second;
    return info;
  }
  const std::string config = model_side_file_dir(path) + "/config.json";
  return file_exists(config) ? read_architecture(config) : info;
}

ModelSummary summarize(const std::string& path) {
  ModelSummary s;
  const ModelFormat format = detect_model_format(path);
  s.format = model_format_name(format);
  std::shared_ptr<Weights> weights = open_weights(path);
  s.metadata = weights->metadata();
  for (const auto& name : weights->names()) {
    TensorMeta meta = weights->meta(name);
    const int64_t n = element_count(meta.shape);
    s.dtypes[meta.dtype].tensors += 1;
    s.dtypes[meta.dtype].elements += n;
    if (is_parameter_dtype(meta.dtype)) s.parameters += n;
    s.tensors.push_back(std::move(meta));
  }
  s.arch = find_architecture(path, format, s.metadata);
  // Side files only describe a folder (a lone file's neighbours may be unrelated).
  if (format == ModelFormat::SafeTensorsFolder) {
    if (file_exists(path + "/generation_config.json"))
      s.generation = read_generation_config(path + "/generation_config.json");
    if (file_exists(path + "/tokenizer_config.json"))
      s.tokenizer = read_tokenizer_config(path + "/tokenizer_config.json");
  }
  return s;
}

// 22713216 -> "22,713,216 (22.7M)"
std::string human_count(int64_t n) {
  std::string digits = std::to_string(n), grouped;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped += ',';
    grouped += digits[i];
  }
  const char* unit = n >= 1'000'000'000 ? "B" : n >= 1'000'000 ? "M" : n >= 1'000 ? "K" : "";
  const double scale = n >= 1'000'000'000 ? 1e9 : n >= 1'000'000 ? 1e6 : n >= 1'000 ? 1e3 : 1;
  return *unit ? fmt::format("{} ({:.1f}{})", grouped, n / scale, unit) : grouped;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  return shape.empty() ? "[]" : fmt::format("[{}]", fmt::join(shape, ", "));
}

// GGUF metadata holds whole vocabularies; the text view shows a line of each.
std::string one_line(const std::string& value, size_t limit = 100) {
  std::string line = value.substr(0, limit);
  for (char& c : line)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return value.size() > limit ? fmt::format("{}... ({} chars)", line, value.size()) : line;
}

std::string optional_text(const std::optional<std::string>& v) { return v ? *v : "-"; }

void print_side_files(const ModelSummary& s) {
  if (s.generation) {
    const GenerationConfig& g = *s.generation;
    std::printf("generation   eos ids [%s], %s, temperature %g, top_k %lld, top_p %g\n",
                fmt::format("{}", fmt::join(g.eos_token_ids, ", ")).c_str(),
                g.do_sample ? "sampling" : "greedy", g.temperature,
                static_cast<long long>(g.top_k), g.top_p);
  }
  if (s.tokenizer) {
    const TokenizerConfig& t = *s.tokenizer;
    std::printf("tokenizer    bos %s, eos %s, pad %s, unk %s, max length %s, chat template %s\n",
                optional_text(t.bos_token).c_str(), optional_text(t.eos_token).c_str(),
                optional_text(t.pad_token).c_str(), optional_text(t.unk_token).c_str(),
                t.model_max_length ? std::to_string(*t.model_max_length).c_str() : "-",
                t.chat_templates.empty() ? "no" : "yes");
  }
}

void print_text(const std::string& path, const ModelSummary& s, const InspectOptions& o) {
  std::printf("path         %s\n", path.c_str());
  std::printf("format       %s\n", s.format.c_str());
  std::printf("architecture %s\n", s.arch.architecture.empty() ? "-" : s.arch.architecture.c_str());
  std::printf("model type   %s\n", s.arch.model_type.empty() ? "-" : s.arch.model_type.c_str());
  std::printf("parameters   %s\n", human_count(s.parameters).c_str());
  std::printf("tensors      %zu\n", s.tensors.size());
  for (const auto& [dtype, count] : s.dtypes)
    std::printf("  %-8s %6lld tensors %s elements\n", dtype.c_str(),
                static_cast<long long>(count.tensors), human_count(count.elements).c_str());
  print_side_files(s);
  std::printf("metadata     %zu keys%s\n", s.metadata.size(),
              o.metadata || s.metadata.empty() ? "" : " (--metadata lists them)");
  if (o.metadata)
    for (const auto& [key, value] : s.metadata)
      std::printf("  %s = %s\n", key.c_str(), one_line(value).c_str());
  if (!o.tensors) return;
  size_t width = 4;
  for (const auto& t : s.tensors) width = std::max(width, t.name.size());
  std::printf("\n%-*s  %-6s  %s\n", static_cast<int>(width), "name", "dtype", "shape");
  for (const auto& t : s.tensors)
    std::printf("%-*s  %-6s  %s\n", static_cast<int>(width), t.name.c_str(), t.dtype.c_str(),
                shape_text(t.shape).c_str());
}

nlohmann::json generation_json(const GenerationConfig& g) {
  nlohmann::json j = {{"eos_token_ids", g.eos_token_ids}, {"do_sample", g.do_sample},
                      {"temperature", g.temperature},     {"top_k", g.top_k},
                      {"top_p", g.top_p},                 {"min_p", g.min_p},
                      {"repetition_penalty", g.repetition_penalty}};
  if (g.bos_token_id) j["bos_token_id"] = *g.bos_token_id;
  if (g.pad_token_id) j["pad_token_id"] = *g.pad_token_id;
  if (g.max_new_tokens) j["max_new_tokens"] = *g.max_new_tokens;
  if (g.max_length) j["max_length"] = *g.max_length;
  return j;
}

nlohmann::json tokenizer_json(const TokenizerConfig& t) {
  nlohmann::json j = {{"do_lower_case", t.do_lower_case}};
  nlohmann::json names = nlohmann::json::array();
  for (const auto& c : t.chat_templates) names.push_back(c.name);
  j["chat_templates"] = names;
  const std::pair<const char*, const std::optional<std::string>*> tokens[] = {
      {"bos_token", &t.bos_token}, {"eos_token", &t.eos_token},
      {"pad_token", &t.pad_token}, {"unk_token", &t.unk_token}};
  for (const auto& [key, value] : tokens)
    if (*value) j[key] = **value;
  if (t.add_bos_token) j["add_bos_token"] = *t.add_bos_token;
  if (t.add_eos_token) j["add_eos_token"] = *t.add_eos_token;
  if (t.model_max_length) j["model_max_length"] = *t.model_max_length;
  return j;
}

void print_json(const std::string& path, const ModelSummary& s, const InspectOptions& o) {
  nlohmann::json j = {{"path", path},
                      {"format", s.format},
                      {"architecture", s.arch.architecture},
                      {"model_type", s.arch.model_type},
                      {"parameters", s.parameters},
                      {"tensor_count", s.tensors.size()}};
  for (const auto& [dtype, count] : s.dtypes)
    j["dtypes"][dtype] = {{"tensors", count.tensors}, {"elements", count.elements}};
  if (s.generation) j["generation_config"] = generation_json(*s.generation);
  if (s.tokenizer) j["tokenizer_config"] = tokenizer_json(*s.tokenizer);
  if (o.metadata) j["metadata"] = s.metadata;
  if (o.tensors) {
    j["tensors"] = nlohmann::json::array();
    for (const auto& t : s.tensors)
      j["tensors"].push_back({{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}});
  }
  // Metadata may hold bytes that are not UTF-8 (GGUF strings are unchecked).
  std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

void run_inspect(const InspectOptions& o) {
  const ModelSummary summary = summarize(o.path);
  if (o.json)
    print_json(o.path, summary, o);
  else
    print_text(o.path, summary, o);
}

CommandRegistrar registrar("inspect", [](CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "inspect", "Describe a model folder, .safetensors or .gguf file: format, architecture, "
                 "parameter count, dtypes, tensors, metadata");
  auto o = std::make_shared<InspectOptions>();
  cmd->add_option("path", o->path, "Model folder, .safetensors or .gguf file")->required();
  cmd->add_flag("--json", o->json, "Print JSON for machines");
  cmd->add_flag("--tensors,!--no-tensors", o->tensors,
                "List every tensor (name, dtype, shape); on by default");
  cmd->add_flag("--metadata", o->metadata,
                "List the file's metadata (safetensors __metadata__, GGUF key/values)");
  cmd->callback([o] { run_inspect(*o); });
});

}  // namespace
}  // namespace e2llm::cli
