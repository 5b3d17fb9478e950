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
    for (const char* key : {"context", "prompt", "answer"})
      E2LLM_CHECK(j.contains(key) && j[key].is_string(), "{}:{}: \"{}\" must be a string", path, number, key);
    out.push_back({j["context"].get<std::string>(), j["prompt"].get<std::string>(), j["answer"].get<std::string>()});
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
