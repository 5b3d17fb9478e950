// QuALITY (nyu-mll/quality). Official v1.0.1 htmlstripped jsonl: one article
// per line, {"article_id", "set_unique_id", "title", "article", "questions":
// [{"question", "options"[4], "gold_label" 1-4 (absent in test),
// "question_unique_id", "difficult"}]}. Also the early flattened layout
// (question<k>, question<k>option<1-4>, question<k>_gold_label, the article as
// HTML lines) and L-Eval's quality.jsonl. The options go into the prompt;
// the answer is "(B) option text", as in L-Eval.
#include <optional>
#include <string>

#include "data/converters.h"
#include "io/json_fields.h"

namespace e2llm::converters {
namespace {

struct Question {
  std::string id, text;
  std::vector<std::string> options;
  int gold_label = 0;  // 1-based; 0 = unknown
  nlohmann::json meta = nlohmann::json::object();
};

std::string prompt_with_options(const Question& q) {
  std::string out = fmt::format("{}\n", q.text);
  for (size_t i = 0; i < q.options.size(); ++i) out += fmt::format("\n({}) {}", static_cast<char>('A' + i), q.options[i]);
  return out;
}

Example question_example(const Question& q, const std::string& article) {
  Example e{q.id, article, prompt_with_options(q), {}, q.meta};
  if (q.gold_label > 0) {
    E2LLM_CHECK(q.gold_label <= static_cast<int>(q.options.size()), "question '{}': gold_label {} but {} options",
                q.id, q.gold_label, q.options.size());
    char letter = static_cast<char>('A' + q.gold_label - 1);
    e.answers = {fmt::format("({}) {}", letter, q.options[q.gold_label - 1])};
    e.meta["gold"] = std::string(1, letter);
  }
  return e;
}

// 1-4; 0 when absent (the test set).
int gold_label_of(const nlohmann::json& j, std::string_view key) {
  const std::optional<int64_t> label = json_fields::optional<int64_t>(j, key);
  if (!label) return 0;
  E2LLM_CHECK(*label >= 1 && *label <= 4, "field '{}' must be an integer 1-4, got {}", key, *label);
  return static_cast<int>(*label);
}

nlohmann::json article_meta(const nlohmann::json& j) {
  const nlohmann::json* id = json_fields::find(j, "article_id");
  return {{"article_id", id ? *id : nlohmann::json()}, {"title", json_fields::value_or<std::string>(j, "title", "")}};
}

std::vector<Example> official_examples(const nlohmann::json& j, const std::string& id_prefix) {
  std::string article = json_fields::string_field(j, "article");
  const auto& questions = json_fields::array_field(j, "questions");
  std::vector<Example> out;
  for (size_t i = 0; i < questions.size(); ++i) {
    const auto& q = questions[i];
    Question question;
    question.id = q.contains("question_unique_id") ? fmt::format("quality-{}", json_fields::id_field(q, "question_unique_id"))
                                                     : fmt::format("{}-q{}", id_prefix, i);
    question.text = json_fields::string_field(q, "question");
    question.options = json_fields::string_array_field(q, "options");
    question.gold_label = gold_label_of(q, "gold_label");
    question.meta = article_meta(j);
    if (q.contains("difficult")) question.meta["difficult"] = q["difficult"];
    out.push_back(question_example(question, article));
  }
  return out;
}

// The early layout's article: HTML lines; keep the text, a blank line per block.
std::string html_to_text(const std::string& html) {
  std::string text;
  for (size_t i = 0; i < html.size();) {
    if (html[i] != '<') {
      text.push_back(html[i++]);
      continue;
    }
    size_t end = html.find('>', i);
    if (end == std::string::npos) break;
    std::string tag = html.substr(i + 1, end - i - 1);
    bool block = tag.rfind("p", 0) == 0 || tag.rfind("/p", 0) == 0 || tag.rfind("h", 0) == 0 ||
                 tag.rfind("/h", 0) == 0;
    bool line_break = tag.rfind("br", 0) == 0;
    text += block ? "\n\n" : line_break ? " " : "";  // inline tags (<i>) vanish
    i = end + 1;
  }
  // Collapse whitespace inside paragraphs; paragraphs separated by one blank line.
  std::string out, word;
  int newlines = 0;
  auto flush_word = [&] {
    if (word.empty()) return;
    if (!out.empty()) out += newlines >= 2 ? "\n\n" : " ";
    out += word;
    word.clear();
    newlines = 0;
  };
  for (size_t i = 0; i <= text.size(); ++i) {
    char c = i < text.size() ? text[i] : ' ';
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      flush_word();
      if (c == '\n') ++newlines;
    } else {
      word.push_back(c);
    }
  }
  return out;
}

std::vector<Example> flattened_examples(const nlohmann::json& j, const std::string& id_prefix) {
  std::string article;
  for (const auto& line : json_fields::string_array_field(j, "article")) article += line;
  article = html_to_text(article);
  std::vector<Example> out;
  for (int k = 1; j.contains(fmt::format("question{}", k)); ++k) {
    Question q;
    q.id = fmt::format("{}-q{}", id_prefix, k);
    q.text = json_fields::string_field(j, fmt::format("question{}", k));
    for (int o = 1; o <= 4; ++o) q.options.push_back(json_fields::string_field(j, fmt::format("question{}option{}", k, o)));
    q.gold_label = gold_label_of(j, fmt::format("question{}_gold_label", k));
    q.meta = article_meta(j);
    out.push_back(question_example(q, article));
  }
  E2LLM_CHECK(!out.empty(), "no 'questions' array and no 'question1' field");
  return out;
}

}  // namespace

Errors convert_quality(const ConvertOptions& options, const ExampleSink& sink) {
  return convert_jsonl(options.input, sink, [&](const nlohmann::json& j, size_t line) {
    std::string id_prefix = record_id("quality", options.input, line);
    if (is_leval_record(j)) return leval_examples(j, id_prefix);
    if (j.contains("questions")) return official_examples(j, id_prefix);
    return flattened_examples(j, id_prefix);
  });
}

}  // namespace e2llm::converters
