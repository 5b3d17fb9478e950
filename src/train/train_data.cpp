#include "e2llm/train_data.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <fstream>

#include "e2llm/error.h"
#include "e2llm/fs.h"

namespace e2llm {
namespace {

std::string normalize_answer(const std::string& s) {
  std::string out;
  bool space = false;
  for (unsigned char c : s) {
    if (std::isspace(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += static_cast<char>(std::tolower(c));
  }
  return out;
}

// "answer" (the reference implementation's format) or the first of "answers"
// (what `e2llm convert` writes).
std::string answer_of(const nlohmann::json& j, const std::string& path, int64_t number) {
  if (j.contains("answer")) {
    E2LLM_CHECK(j["answer"].is_string(), "{}:{}: \"answer\" must be a string", path, number);
    return j["answer"].get<std::string>();
  }
  E2LLM_CHECK(j.contains("answers") && j["answers"].is_array() && !j["answers"].empty() && j["answers"][0].is_string(),
              "{}:{}: needs \"answer\" (a string) or \"answers\" (a non-empty list of strings)", path, number);
  return j["answers"][0].get<std::string>();
}

}  // namespace

std::vector<TrainExample> read_examples_jsonl(const std::string& path) {
  std::ifstream in(path);
  E2LLM_CHECK(in.good(), "{}: cannot open the examples file", path);
  std::vector<TrainExample> out;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      fail("{}:{}: not valid JSON: {}", path, number, e.what());
    }
    for (const char* key : {"context", "prompt"})
      E2LLM_CHECK(j.contains(key) && j[key].is_string(), "{}:{}: \"{}\" must be a string", path, number, key);
    out.push_back({j["context"].get<std::string>(), j["prompt"].get<std::string>(), answer_of(j, path, number)});
  }
  E2LLM_CHECK(!out.empty(), "{}: no examples", path);
  return out;
}

void write_examples_jsonl(const std::string& path, const std::vector<TrainExample>& examples) {
  std::string text;
  for (const TrainExample& e : examples)
    text += nlohmann::json{{"context", e.context}, {"prompt", e.prompt}, {"answer", e.answer}}.dump() + "\n";
  write_file_atomic(path, text);
}

bool answers_match(const std::string& predicted, const std::string& expected) {
  return normalize_answer(predicted) == normalize_answer(expected);
}

}  // namespace e2llm
