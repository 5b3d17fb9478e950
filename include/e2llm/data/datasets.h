// One example type and one JSON Lines schema for evaluation and training:
//   {"id", "context", "prompt", "answers": [...], "meta": {...}}
// (training reads "answer": "..." too, the reference implementation's format,
// and trains on the first answer), and converters from the official layouts
// of QMSum, GovReport, QuALITY, NarrativeQA, TriviaQA and LongBench (see
// docs/evaluation.md for each layout).
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace e2llm {

struct Example {
  std::string id;
  std::string context;  // the long text
  std::string prompt;   // the query / question / instruction
  std::vector<std::string> answers;
  nlohmann::json meta = nlohmann::json::object();
};

// The answers are "answers" (a list of strings) or "answer" (one string).
// What examples are read for decides what else each must hold:
//  - evaluation: "id" (a string or an integer); "context" and "prompt"
//    default to "", "answers" may be empty;
//  - training: "context" and "prompt", and at least one answer (training
//    fits the first); "id" defaults to the line number. A file without any
//    example is an error.
// "meta" (any JSON) is optional in both.
enum class ExampleUse { evaluation, training };

nlohmann::json example_to_json(const Example& example);
// `where` (e.g. "record") prefixes the error when a field is missing or
// mistyped; `default_id` stands in for a missing "id" where `use` allows one.
Example example_from_json(const nlohmann::json& j, std::string_view where, ExampleUse use = ExampleUse::evaluation,
                          std::string_view default_id = "");

// Reads an examples JSONL file; a malformed line throws e2llm::Error naming
// file and line ("path:line: record: reason").
std::vector<Example> read_examples(const std::string& path, ExampleUse use = ExampleUse::evaluation);
// One example_to_json() line per example, written atomically.
void write_examples(const std::string& path, const std::vector<Example>& examples);

// Calls `on_line(json, line_number)` for every non-blank line of a JSONL file.
// Errors (bad JSON, or an e2llm::Error thrown by `on_line`) are collected as
// "path:line: reason" and the next line is read: one bad line loses nothing else.
std::vector<std::string> for_each_jsonl_line(const std::string& path,
                                             const std::function<void(const nlohmann::json&, size_t)>& on_line);

enum class DatasetFormat { qmsum, govreport, quality, narrativeqa, triviaqa, longbench };
DatasetFormat parse_dataset_format(std::string_view name);  // throws e2llm::Error

struct ConvertOptions {
  DatasetFormat format = DatasetFormat::qmsum;
  // qmsum, quality, longbench: a .jsonl file. govreport: a .jsonl file, a
  // .json report, or a folder of them (gao/ and crs/). narrativeqa: the repo
  // folder holding qaps.csv and documents.csv. triviaqa: a qa/*.json file.
  std::string input;
  std::string stories_dir;   // narrativeqa: <document_id>.content files (default <input>/tmp)
  std::string evidence_dir;  // triviaqa: folder with wikipedia/ and web/ (default <input dir>/../evidence)
  std::string split;         // narrativeqa: keep only this set (train, valid, test); "" keeps all
  bool per_question = false; // triviaqa: one example per question over all its evidence
};

using ExampleSink = std::function<void(const Example&)>;

// Streams the converted examples into `sink`; returns the malformed records
// it skipped, each "file:line: reason" (or "file: Data[i]: reason").
// Throws e2llm::Error when the input itself cannot be read.
std::vector<std::string> convert_dataset(const ConvertOptions& options, const ExampleSink& sink);

}  // namespace e2llm
