// NarrativeQA (deepmind/narrativeqa): qaps.csv (document_id, set, question,
// answer1, answer2, ...) beside documents.csv (document_id, set, kind,
// wiki_title, ...), and the stories download_stories.sh leaves in tmp/ as
// <document_id>.content. One example per question; both answers are references.
#include <algorithm>
#include <map>

#include "e2llm/io/fs.h"
#include "data/converters.h"
#include "data/csv.h"

namespace e2llm::converters {
namespace {

struct Document {
  std::string kind, title;
};

std::map<std::string, Document> read_documents(const std::string& path) {
  std::map<std::string, Document> out;
  if (!file_exists(path)) return out;  // only metadata comes from it
  auto records = csv::parse(read_text_file(path), path);
  if (records.empty()) return out;
  size_t id = csv::column(records[0], "document_id", path);
  size_t kind = csv::column(records[0], "kind", path);
  size_t title = csv::column(records[0], "wiki_title", path);
  for (size_t r = 1; r < records.size(); ++r) {
    const auto& f = records[r].fields;
    if (f.size() > std::max({id, kind, title})) out[f[id]] = {f[kind], f[title]};
  }
  return out;
}

}  // namespace

Errors convert_narrativeqa(const ConvertOptions& options, const ExampleSink& sink) {
  const std::string qaps_path = options.input + "/qaps.csv";
  E2LLM_CHECK(file_exists(qaps_path), "{}: no qaps.csv in this folder (expected the narrativeqa repository)",
              options.input);
  const std::string stories = options.stories_dir.empty() ? options.input + "/tmp" : options.stories_dir;
  auto documents = read_documents(options.input + "/documents.csv");
  auto records = csv::parse(read_text_file(qaps_path), qaps_path);
  E2LLM_CHECK(!records.empty(), "{}: empty file", qaps_path);
  const auto& header = records[0];
  const size_t c_doc = csv::column(header, "document_id", qaps_path), c_set = csv::column(header, "set", qaps_path),
               c_question = csv::column(header, "question", qaps_path),
               c_a1 = csv::column(header, "answer1", qaps_path), c_a2 = csv::column(header, "answer2", qaps_path);
  const size_t needed = std::max({c_doc, c_set, c_question, c_a1, c_a2}) + 1;

  Errors errors;
  std::string story_id, story;  // qaps.csv is grouped by story: keep the last one
  for (size_t r = 1; r < records.size(); ++r) {
    const auto& rec = records[r];
    try {
      E2LLM_CHECK(rec.fields.size() >= needed, "{} fields, expected at least {}", rec.fields.size(), needed);
      const auto& f = rec.fields;
      if (!options.split.empty() && f[c_set] != options.split) continue;
      if (f[c_doc] != story_id) {
        std::string path = stories + "/" + f[c_doc] + ".content";
        E2LLM_CHECK(file_exists(path), "story file {} not found", path);
        story = read_text_file(path);
        story_id = f[c_doc];
      }
      Example e{fmt::format("narrativeqa-{}", rec.line), story, f[c_question], {f[c_a1], f[c_a2]},
                {{"document_id", f[c_doc]}, {"set", f[c_set]}}};
      if (auto it = documents.find(f[c_doc]); it != documents.end()) {
        e.meta["kind"] = it->second.kind;
        e.meta["title"] = it->second.title;
      }
      sink(e);
    } catch (const Error& e) {
      errors.push_back(fmt::format("{}:{}: {}", qaps_path, rec.line, e.what()));
    }
  }
  return errors;
}

}  // namespace e2llm::converters
