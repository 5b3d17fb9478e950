// The examples JSONL schema (evaluation and training): reading, writing, and
// tolerant line iteration.
#include <fstream>

#include "e2llm/data/datasets.h"
#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "io/json_fields.h"

namespace e2llm {

nlohmann::json example_to_json(const Example& e) {
  return {{"id", e.id}, {"context", e.context}, {"prompt", e.prompt}, {"answers", e.answers}, {"meta", e.meta}};
}

Example example_from_json(const nlohmann::json& j, std::string_view where, ExampleUse use, std::string_view default_id) {
  const bool training = use == ExampleUse::training;
  try {
    json_fields::require_object(j, {});
    auto has = [&](std::string_view key) { return json_fields::find(j, key) != nullptr; };  // null = absent
    Example e;
    e.id = training && !has("id") ? std::string(default_id) : json_fields::id_field(j, "id");
    e.context = training || has("context") ? json_fields::string_field(j, "context") : "";
    e.prompt = training || has("prompt") ? json_fields::string_field(j, "prompt") : "";
    if (!has("answers") && has("answer")) {
      e.answers = {json_fields::string_field(j, "answer")};
    } else {
      E2LLM_CHECK(has("answers"), "missing field 'answers' (or 'answer', a string)");
      e.answers = json_fields::string_array_field(j, "answers");
      E2LLM_CHECK(!training || !e.answers.empty(), "field 'answers' is empty: training needs an answer");
    }
    if (has("meta")) e.meta = j["meta"];
    return e;
  } catch (const Error& err) {
    fail("{}: {}", where, err.what());
  }
}

std::vector<std::string> for_each_jsonl_line(const std::string& path,
                                             const std::function<void(const nlohmann::json&, size_t)>& on_line) {
  std::ifstream in(path, std::ios::binary);
  E2LLM_CHECK(in, "{}: cannot open", path);
  std::vector<std::string> errors;
  size_t line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      on_line(nlohmann::json::parse(line), line_number);
    } catch (const nlohmann::json::exception& e) {
      errors.push_back(fmt::format("{}:{}: {}", path, line_number, e.what()));
    } catch (const Error& e) {
      errors.push_back(fmt::format("{}:{}: {}", path, line_number, e.what()));
    }
  }
  return errors;
}

std::vector<Example> read_examples(const std::string& path, ExampleUse use) {
  std::vector<Example> out;
  auto errors = for_each_jsonl_line(path, [&](const nlohmann::json& j, size_t line) {
    out.push_back(example_from_json(j, "record", use, std::to_string(line)));
  });
  E2LLM_CHECK(errors.empty(), "{}", errors.front());
  E2LLM_CHECK(use != ExampleUse::training || !out.empty(), "{}: no examples", path);
  return out;
}

void write_examples(const std::string& path, const std::vector<Example>& examples) {
  std::string text;
  for (const Example& e : examples) text += example_to_json(e).dump() + "\n";
  write_file_atomic(path, text);
}

DatasetFormat parse_dataset_format(std::string_view name) {
  static const std::pair<std::string_view, DatasetFormat> kNames[] = {
      {"qmsum", DatasetFormat::qmsum},       {"govreport", DatasetFormat::govreport},
      {"quality", DatasetFormat::quality},   {"narrativeqa", DatasetFormat::narrativeqa},
      {"triviaqa", DatasetFormat::triviaqa}, {"longbench", DatasetFormat::longbench}};
  for (const auto& [n, f] : kNames)
    if (n == name) return f;
  fail("unknown dataset format '{}' (expected qmsum, govreport, quality, narrativeqa, triviaqa or longbench)", name);
}

}  // namespace e2llm
