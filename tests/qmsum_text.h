// Real text for tests: QMSum meeting transcripts as the library's converter
// writes them (convert_dataset: "Speaker: content" lines), so that tests read
// the same text the training and evaluation data are made of.
#pragma once

#include <string>
#include <vector>

#include "e2llm/data/datasets.h"
#include "test_util.h"

namespace e2llm::test {

inline std::string qmsum_path(const std::string& split) { return shared_dir() + "/data/qmsum/" + split + ".jsonl"; }

// The transcripts of the first `meetings` meetings of a split, in file order.
// A meeting's queries come one after another, so a transcript is new when it
// differs from the last one.
inline std::vector<std::string> qmsum_transcripts(const std::string& split, size_t meetings) {
  std::vector<std::string> out;
  ConvertOptions qmsum;  // format qmsum
  qmsum.input = qmsum_path(split);
  convert_dataset(qmsum, [&](const Example& e) {
    if (out.size() < meetings && (out.empty() || e.context != out.back())) out.push_back(e.context);
  });
  return out;
}

// The first `meetings` transcripts of a split one after another, as
// scripts/train_shipped_model.sh joins them into a haystack for its synthetic tasks.
inline std::string qmsum_haystack(const std::string& split, size_t meetings) {
  std::string text;
  for (const std::string& transcript : qmsum_transcripts(split, meetings)) text += transcript + "\n";
  return text;
}

}  // namespace e2llm::test
