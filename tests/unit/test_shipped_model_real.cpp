// The shipped model (models/e2llm-minilm-smollm2, issue #13, docs/model.md)
// with the real base models: `e2llm answer` finds it without --model, loads
// its base models by name from the model cache (checked by fingerprint: the
// snapshot test shows another decoder under the same name is refused), and
// reads pass keys out of short held-out documents (QMSum val transcripts,
// which it never trained on).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "e2llm/data/synthetic.h"
#include "e2llm/e2llm/e2llm_model.h"
#include "e2llm/io/checkpoint.h"
#include "e2llm/io/fs.h"
#include "qmsum_text.h"
#include "test_util.h"

namespace e2llm {
namespace {

const char* kEncoder = "all-MiniLM-L6-v2";
const char* kDecoder = "SmolLM2-135M-Instruct.Q4_1.gguf";

std::string shipped_dir() { return test::source_dir() + "/models/e2llm-minilm-smollm2"; }

std::string val_transcripts(size_t meetings) {
  std::string text;
  for (const std::string& transcript : test::qmsum_transcripts("val", meetings)) text += transcript + "\n";
  return text;
}

// The key's digits at the start of an answer (after spaces), as
// scripts/digit_accuracy.py reads them.
bool reads_whole_key(const std::string& answer, const std::string& key) {
  const size_t start = answer.find_first_not_of(' ');
  return start != std::string::npos && answer.compare(start, key.size(), key) == 0;
}

// The checkpoint.json of the exported model (a step folder named by `latest`).
nlohmann::json shipped_checkpoint() {
  const std::string step = latest_checkpoint(shipped_dir());
  return read_json_file((step.empty() ? shipped_dir() : step) + "/checkpoint.json");
}

TEST(ShippedModel, NamesItsBaseModelsByFetchNameAndFingerprint) {
  ASSERT_TRUE(std::filesystem::is_directory(shipped_dir())) << shipped_dir() << " is missing";
  const nlohmann::json base_models = shipped_checkpoint().at("base_models");
  ASSERT_EQ(base_models.size(), 2u) << base_models.dump();
  for (const nlohmann::json& base : base_models) {
    // By its scripts/fetch_models.sh name, never a path of the machine it was trained on.
    EXPECT_EQ(base.at("path"), base.at("role") == "encoder" ? kEncoder : kDecoder) << base.dump();
    EXPECT_EQ(base.at("weight_fingerprint").get<std::string>().size(), 16u) << base.dump();
    EXPECT_EQ(base.at("config_hash").get<std::string>().size(), 16u) << base.dump();
  }
  std::uintmax_t bytes = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(shipped_dir()))
    if (entry.is_regular_file()) bytes += entry.file_size();
  EXPECT_LE(bytes, 20u << 20) << "the issue allows ~20 MB";
}

TEST(ShippedModel, ReadsWholePasskeysInShortHeldOutDocuments) {
  E2LLM_REQUIRE_REAL_MODEL(encoder, kEncoder);
  E2LLM_REQUIRE_REAL_MODEL(decoder, kDecoder);
  ASSERT_TRUE(std::filesystem::exists(test::qmsum_path("val"))) << test::qmsum_path("val") << " is missing";
  torch::InferenceMode inference;
  std::unique_ptr<E2llmModel> model = load_e2llm(shipped_dir());

  const std::string haystack = val_transcripts(3);
  int documents = 0, first_three_right = 0, exact = 0;
  for (size_t words : {60, 120, 300}) {
    for (double depth : {0.0, 0.33, 0.67, 1.0}) {
      const Example e = make_passkey({.words = words, .depth = depth, .seed = 200u + static_cast<uint64_t>(documents),
                                      .haystack = haystack});
      const std::string answer = model->generate(e.context, e.prompt, AnswerOptions(8));
      std::printf("[ note ] %3zu words, depth %.2f: key %s, answer '%s'\n", words, depth, e.answers.at(0).c_str(),
                  answer.c_str());
      ++documents;
      exact += reads_whole_key(answer, e.answers.at(0));
      first_three_right += reads_whole_key(answer, e.answers.at(0).substr(0, 3));
    }
  }
  std::printf("[ note ] first three digits right in %d of %d, whole key in %d\n", first_three_right, documents,
              exact);
  // The model of 2026-12-05 (long stage step 120) gets 12 and 5 of 12 here
  // (21% whole of docs/model.md's 66 held-out short keys; chance is 1 in 1,000
  // for three digits, 1 in 100,000 for a key). The margins allow for close
  // greedy choices going the other way on another CPU's kernels.
  EXPECT_GE(first_three_right, documents - 2);
  EXPECT_GE(exact, 3);
}

// The main job as a user runs it: no --model, no $E2LLM_MODEL, the document
// on standard input; the answer is the key.
TEST(ShippedModel, AnswersAPasskeyQuestionFromTheCommandLine) {
  E2LLM_REQUIRE_REAL_MODEL(encoder, kEncoder);
  E2LLM_REQUIRE_REAL_MODEL(decoder, kDecoder);
  ASSERT_TRUE(std::filesystem::exists(test::qmsum_path("val"))) << test::qmsum_path("val") << " is missing";
  const Example e = make_passkey({.words = 60, .depth = 0.5, .seed = 7, .haystack = val_transcripts(1)});
  test::TempDir dir;
  write_file_atomic(dir.file("document.txt"), e.context);
  ::unsetenv("E2LLM_MODEL");
  const test::CommandResult r =
      test::run_cli("answer --max-new-tokens 8 --context - --question '" + e.prompt + "'", dir.file("document.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(e.answers.at(0)), std::string::npos) << "key " << e.answers.at(0) << ": " << r.output;
}

}  // namespace
}  // namespace e2llm
