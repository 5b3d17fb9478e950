// The committed short-stage snapshot (snapshots/e2llm-minilm-smollm2-short,
// issue #13) with the real base models: it loads on this machine by model
// name, refuses a base model that is not the one it was trained on, and does
// what its README says it does on held-out text (QMSum val transcripts, which
// it never trained on): it reads the first two digits of a pass key, and
// mostly the third. When the shipped model exists, its own test asks for the
// whole key.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "e2llm/core/error.h"
#include "e2llm/data/synthetic.h"
#include "e2llm/e2llm/e2llm_model.h"
#include "qmsum_text.h"
#include "test_util.h"

namespace e2llm {
namespace {

const char* kEncoder = "all-MiniLM-L6-v2";
const char* kDecoder = "SmolLM2-135M-Instruct.Q4_1.gguf";

std::string snapshot_dir() { return test::source_dir() + "/snapshots/e2llm-minilm-smollm2-short"; }

// The first `meetings` transcripts of QMSum's val split, one after another, as
// the training script joins them into a haystack.
std::string val_transcripts(size_t meetings) {
  std::string text;
  for (const std::string& transcript : test::qmsum_transcripts("val", meetings)) text += transcript + "\n";
  return text;
}

TEST(ShortStageSnapshot, ReadsThePasskeysFirstDigitsInHeldOutText) {
  E2LLM_REQUIRE_REAL_MODEL(encoder, kEncoder);
  E2LLM_REQUIRE_REAL_MODEL(decoder, kDecoder);
  ASSERT_TRUE(std::filesystem::exists(test::qmsum_path("val"))) << test::qmsum_path("val") << " is missing";
  torch::InferenceMode inference;
  std::unique_ptr<E2llmModel> model = load_e2llm(snapshot_dir());

  const std::string haystack = val_transcripts(3);
  int documents = 0, first_two_right = 0, first_three_right = 0, exact = 0;
  for (size_t words : {60, 120, 300}) {
    for (double depth : {0.0, 0.33, 0.67, 1.0}) {
      const Example e = make_passkey({.words = words, .depth = depth, .seed = 100u + static_cast<uint64_t>(documents),
                                      .haystack = haystack});
      const std::string key = e.answers.at(0);
      const std::string answer = model->generate(e.context, e.prompt, AnswerOptions(8));
      const size_t start = answer.find_first_not_of(' ');
      const std::string digits = start == std::string::npos ? "" : answer.substr(start);
      std::printf("[ note ] %3zu words, depth %.2f: key %s, answer '%s'\n", words, depth, key.c_str(), answer.c_str());
      ++documents;
      first_two_right += digits.compare(0, 2, key, 0, 2) == 0;
      first_three_right += digits.compare(0, 3, key, 0, 3) == 0;
      exact += digits.compare(0, key.size(), key) == 0;
    }
  }
  std::printf("[ note ] first two digits right in %d of %d, first three in %d, whole key in %d\n", first_two_right,
              documents, first_three_right, exact);
  // On 66 such documents the snapshot reads the first digit 100%, the second
  // 98% and the third 92% of the time (chance: about 10% each); here it gets
  // 12 and 12 of 12 (and 6 whole keys). The margins allow for close greedy
  // choices going the other way on another CPU's kernels.
  EXPECT_GE(first_two_right, documents - 2);
  EXPECT_GE(first_three_right, documents - 3);
}

// The base models are checked by fingerprint, not trusted by name: a cache
// whose decoder name holds another model is refused, and the error names it.
TEST(ShortStageSnapshot, RefusesAnotherDecoderUnderTheSameName) {
  E2LLM_REQUIRE_REAL_MODEL(encoder, kEncoder);
  E2LLM_REQUIRE_REAL_MODEL(other_decoder, "gemma-3-270m-Q4_K_M.gguf");
  test::TempDir cache;
  std::filesystem::create_directory_symlink(encoder, cache.file(kEncoder));
  std::filesystem::create_symlink(other_decoder, cache.file(kDecoder));
  test::ScopedEnv env("E2LLM_MODEL_CACHE", cache.path());
  try {
    load_e2llm(snapshot_dir());
    FAIL() << "loaded with another decoder";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("another base model"), std::string::npos) << message;
    EXPECT_NE(message.find("decoder"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace e2llm
