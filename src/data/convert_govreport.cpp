// GovReport. Official release (Huang et al. 2021): one JSON file per report,
//   gao/*.json: {"id", "title", "report": [section...], "highlight": [section...]}
//   crs/*.json: {"id", "title", "reports": section, "summary": [paragraph...]}
// where section = {"section_title", "paragraphs": [...], "subsections": [section...]};
// a folder of them, one file, or a .jsonl with one report per line. Also
// {"report"|"document", "summary"} string pairs and L-Eval's gov_report_summ.jsonl.
#include <algorithm>
#include <filesystem>

#include "e2llm/io/fs.h"
#include "data/converters.h"
#include "io/json_fields.h"

namespace e2llm::converters {
namespace {

constexpr const char* kPrompt = "Please help me summarize this government report.";

void append_line(std::string& out, const std::string& line) {
  if (line.empty()) return;
  if (!out.empty()) out.push_back('\n');
  out += line;
}

// Section titles and paragraphs, one per line, depth first.
void flatten(const nlohmann::json& node, std::string& out) {
  if (node.is_string()) return append_line(out, node.get<std::string>());
  if (node.is_array()) {
    for (const auto& child : node) flatten(child, out);
    return;
  }
  E2LLM_CHECK(node.is_object(), "a report section must be an object, an array or a string, got {}",
              node.type_name());
  if (node.contains("section_title")) append_line(out, json_fields::string_field(node, "section_title"));
  if (node.contains("paragraphs")) flatten(json_fields::array_field(node, "paragraphs"), out);
  if (node.contains("subsections")) flatten(json_fields::array_field(node, "subsections"), out);
}

std::string flattened(const nlohmann::json& node) {
  std::string out;
  flatten(node, out);
  return out;
}

std::vector<Example> report_examples(const nlohmann::json& j, const std::string& fallback_id) {
  if (is_leval_record(j)) return leval_examples(j, fallback_id);
  Example e;
  e.id = j.contains("id") ? fmt::format("govreport-{}", json_fields::id_field(j, "id")) : fallback_id;
  e.prompt = kPrompt;
  if (j.contains("highlight")) {  // GAO
    e.context = flattened(json_fields::field(j, "report"));
    e.answers = {flattened(j["highlight"])};
    e.meta["agency"] = "gao";
  } else if (j.contains("reports") || (j.contains("summary") && j["summary"].is_array())) {  // CRS
    e.context = flattened(json_fields::field(j, "reports"));
    e.answers = {flattened(json_fields::field(j, "summary"))};
    e.meta["agency"] = "crs";
  } else {  // plain pair
    e.context = json_fields::string_field(j, j.contains("report") ? "report" : "document");
    e.answers = {json_fields::string_field(j, "summary")};
  }
  E2LLM_CHECK(!e.context.empty(), "the report text is empty");
  if (j.contains("title")) e.meta["title"] = j["title"];
  return {std::move(e)};
}

Errors convert_json_file(const std::string& path, const ExampleSink& sink) {
  try {
    std::string id = fmt::format("govreport-{}", std::filesystem::path(path).stem().string());
    for (const auto& e : report_examples(read_json_file(path), id)) sink(e);
    return {};
  } catch (const Error& e) {
    return {fmt::format("{}: {}", path, e.what())};
  }
}

Errors convert_one(const std::string& path, const ExampleSink& sink) {
  if (std::filesystem::path(path).extension() == ".json") return convert_json_file(path, sink);
  return convert_jsonl(path, sink, [&](const nlohmann::json& j, size_t line) {
    return report_examples(j, record_id("govreport", path, line));
  });
}

}  // namespace

Errors convert_govreport(const ConvertOptions& options, const ExampleSink& sink) {
  if (!is_directory(options.input)) return convert_one(options.input, sink);
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(options.input)) {
    auto ext = entry.path().extension();
    if (entry.is_regular_file() && (ext == ".json" || ext == ".jsonl")) files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());  // a stable order across file systems
  E2LLM_CHECK(!files.empty(), "{}: no .json or .jsonl report files in this folder", options.input);
  Errors errors;
  for (const auto& f : files) {
    auto more = convert_one(f, sink);
    errors.insert(errors.end(), more.begin(), more.end());
  }
  return errors;
}

}  // namespace e2llm::converters
