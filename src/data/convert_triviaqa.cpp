// TriviaQA (mandarjoshi90/triviaqa): a qa/*.json file {"Data": [{"Question",
// "QuestionId", "Answer": {"Value", "Aliases"}, "EntityPages": [{"Filename",
// "Title"}], "SearchResults": [{"Filename", "Title"}]}], "Domain"} with the
// evidence texts in evidence/wikipedia/ and evidence/web/. One example per
// question and evidence document, id "<QuestionId>--<Filename>" (the official
// prediction key), or one per question over all its evidence (per_question).
#include <algorithm>
#include <filesystem>

#include "e2llm/io/fs.h"
#include "data/converters.h"
#include "io/json_fields.h"

namespace e2llm::converters {
namespace {

struct Evidence {
  std::string source, filename, title;
};

std::vector<Evidence> evidence_of(const nlohmann::json& q) {
  std::vector<Evidence> out;
  for (auto [key, source] : {std::pair{"EntityPages", "wikipedia"}, std::pair{"SearchResults", "web"}}) {
    if (!q.contains(key)) continue;
    for (const auto& page : json_fields::array_field(q, key))
      out.push_back({source, json_fields::string_field(page, "Filename"),
                     json_fields::value_or<std::string>(page, "Title", "")});
  }
  return out;
}

// Aliases, plus Value when it is not among them; none for the unlabelled test set.
std::vector<std::string> answers_of(const nlohmann::json& q) {
  if (!q.contains("Answer")) return {};
  const auto& a = q["Answer"];
  std::vector<std::string> out = a.contains("Aliases") ? json_fields::string_array_field(a, "Aliases")
                                                        : std::vector<std::string>{};
  std::string value = json_fields::string_field(a, "Value");
  if (std::find(out.begin(), out.end(), value) == out.end()) out.insert(out.begin(), value);
  return out;
}

}  // namespace

Errors convert_triviaqa(const ConvertOptions& options, const ExampleSink& sink) {
  nlohmann::json root = read_json_file(options.input);
  const auto& data = json_fields::array_field(root, "Data");
  std::string evidence_dir = options.evidence_dir.empty()
                                 ? (std::filesystem::path(options.input).parent_path() / ".." / "evidence").string()
                                 : options.evidence_dir;
  Errors errors;
  for (size_t i = 0; i < data.size(); ++i) {
    std::string where = fmt::format("{}: Data[{}]", options.input, i);
    try {
      const auto& q = data[i];
      std::string qid = json_fields::id_field(q, "QuestionId");
      where += fmt::format(" ({})", qid);
      std::string question = json_fields::string_field(q, "Question");
      auto answers = answers_of(q);
      Example whole{qid, "", question, answers, {{"question_id", qid}, {"documents", nlohmann::json::array()}}};
      for (const auto& ev : evidence_of(q)) {
        std::string path = evidence_dir + "/" + ev.source + "/" + ev.filename;
        if (!file_exists(path)) {
          errors.push_back(fmt::format("{}: evidence file {} not found", where, path));
          continue;
        }
        std::string text = read_text_file(path);
        if (options.per_question) {
          whole.context += fmt::format("{}{}\n{}", whole.context.empty() ? "" : "\n\n", ev.title, text);
          whole.meta["documents"].push_back(ev.filename);
          continue;
        }
        sink(Example{fmt::format("{}--{}", qid, ev.filename), text, question, answers,
                     {{"question_id", qid}, {"source", ev.source}, {"title", ev.title}}});
      }
      if (options.per_question && !whole.context.empty()) sink(whole);
    } catch (const Error& e) {
      errors.push_back(fmt::format("{}: {}", where, e.what()));
    }
  }
  return errors;
}

}  // namespace e2llm::converters
