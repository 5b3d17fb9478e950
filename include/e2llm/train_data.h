// Training examples in the reference implementation's JSON Lines format:
// one {"context", "prompt", "answer"} object per line.
#pragma once
#include <string>
#include <vector>

namespace e2llm {

struct TrainExample {
  std::string context, prompt, answer;
};

// Blank lines are skipped; errors name the file and line.
std::vector<TrainExample> read_examples_jsonl(const std::string& path);
void write_examples_jsonl(const std::string& path, const std::vector<TrainExample>& examples);

// Lower-cased, whitespace-collapsed, trimmed equality.
bool answers_match(const std::string& predicted, const std::string& expected);

}  // namespace e2llm
