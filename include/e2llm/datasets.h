// One JSON Lines schema for every evaluation set:
//   {"id", "context", "prompt", "answers": [...], "meta": {...}}
// and converters from the official layouts of QMSum, GovReport, QuALITY,
// NarrativeQA, TriviaQA and LongBench (see docs/evaluation.md for each layout).
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

nlohmann::json example_to_json(const Example& example);
// `where` (e.g. "file.jsonl:12") prefixes the error when a field is missing or mistyped.
Example example_from_json(const nlohmann::json& j, std::string_view where);

// Reads a dataset JSONL file; a malformed line throws e2llm::Error naming file and line.
std::vector<Example> read_examples(const std::string& path);

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
