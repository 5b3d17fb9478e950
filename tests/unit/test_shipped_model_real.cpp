// The E2LLM models committed in the repository (issue #13, docs/model.md), with
// the real base models:
// - the shipped model (models/e2llm-minilm-smollm2): `e2llm answer` finds it
//   without --model, it names its base models by name and fingerprint, and it
//   reads whole pass keys out of short held-out documents (QMSum val
//   transcripts, which it never trained on);
// - the short stage's snapshot (snapshots/e2llm-minilm-smollm2-short): it
//   loads by model name, refuses a base model that is not the one it was
//   trained on, and reads the first digits of a pass key as its README says.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <regex>

#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
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
std::string snapshot_dir() { return test::source_dir() + "/snapshots/e2llm-minilm-smollm2-short"; }

// How many of a model's answers to the pass keys of 12 held-out short
// documents (60, 120 and 300 words of QMSum val text, 4 depths each) start
// with the key's first 1..5 digits (after spaces, as scripts/digit_accuracy.py
// reads them): right[n - 1] for n digits; right[4] is the whole key.
struct PasskeyScore {
  int documents = 0;
  std::array<int, 5> right{};
};

PasskeyScore read_held_out_passkeys(const std::string& model_dir, uint64_t seed) {
  E2LLM_CHECK(std::filesystem::exists(test::qmsum_path("val")), "{} is missing", test::qmsum_path("val"));
  torch::InferenceMode inference;
  std::unique_ptr<E2llmModel> model = load_e2llm(model_dir);
  const std::string haystack = test::qmsum_haystack("val", 3);
  PasskeyScore score;
  for (size_t words : {60, 120, 300}) {
    for (double depth : {0.0, 0.33, 0.67, 1.0}) {
      const Example e = make_passkey({.words = words, .depth = depth, .seed = seed + static_cast<uint64_t>(score.documents),
                                      .haystack = haystack});
      const std::string key = e.answers.at(0);
      const std::string answer = model->generate(e.context, e.prompt, AnswerOptions(8));
      std::printf("[ note ] %3zu words, depth %.2f: key %s, answer '%s'\n", words, depth, key.c_str(), answer.c_str());
      const size_t start = answer.find_first_not_of(' ');
      const std::string digits = start == std::string::npos ? "" : answer.substr(start);
      ++score.documents;
      for (size_t n = 1; n <= 5; ++n)  // a 4-digit key counts as whole at n = 4 and 5
        score.right[n - 1] += digits.compare(0, std::min(n, key.size()), key, 0, std::min(n, key.size())) == 0;
    }
  }
  std::printf("[ note ] of %d keys: first 2 digits right %d, first 3 %d, whole key %d\n", score.documents,
              score.right[1], score.right[2], score.right[4]);
  return score;
}

// The checkpoint.json of the exported model (a step folder named by `latest`).
nlohmann::json shipped_checkpoint() {
  return read_json_file(checkpoint_folder(shipped_dir()) + "/checkpoint.json");
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
  E2LLM_REQUIRE_SHARED_DATA(qmsum, test::qmsum_path("val"));
  const PasskeyScore score = read_held_out_passkeys(shipped_dir(), 200);
  // The model of 2026-12-06 (long stage step 380) gets 12 and 8 of 12 here,
  // with OpenBLAS's Haswell, Zen and SkylakeX kernels alike (35% whole of
  // docs/model.md's 66 held-out short keys; chance is 1 in 1,000 for three
  // digits, 1 in 100,000 for a key). The margins allow for close greedy
  // choices going the other way on another CPU's kernels.
  EXPECT_GE(score.right[2], score.documents - 2);
  EXPECT_GE(score.right[4], 5);
}

// The main job as a user runs it: no --model, no $E2LLM_MODEL, the document
// on standard input; the answer is a number of the key's length that starts
// with its first three digits. (The whole key comes back for this document
// with this machine's OpenBLAS kernels, not with others' (OPENBLAS_CORETYPE=
// Haswell, Zen or SkylakeX gives 36114 for 36123): the model reads the last
// two digits about as often as docs/model.md says, so one key cannot be
// required whole; the test above counts whole keys over twelve.)
TEST(ShippedModel, AnswersAPasskeyQuestionFromTheCommandLine) {
  E2LLM_REQUIRE_REAL_MODEL(encoder, kEncoder);
  E2LLM_REQUIRE_REAL_MODEL(decoder, kDecoder);
  E2LLM_REQUIRE_SHARED_DATA(qmsum, test::qmsum_path("val"));
  const Example e = make_passkey({.words = 60, .depth = 0.5, .seed = 7, .haystack = test::qmsum_haystack("val", 1)});
  const std::string key = e.answers.at(0);
  test::TempDir dir;
  write_file_atomic(dir.file("document.txt"), e.context);
  const test::CommandResult r = test::run_command("env -u E2LLM_MODEL " + test::cli_path() +
                                                  " answer --max-new-tokens 8 --context - --question '" + e.prompt +
                                                  "' < " + dir.file("document.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::smatch number;
  ASSERT_TRUE(std::regex_search(r.output, number, std::regex("[0-9]+"))) << r.output;
  EXPECT_EQ(number.position(0), r.output.find_first_not_of(' ')) << "the answer starts with the number: " << r.output;
  EXPECT_EQ(number.str().size(), key.size()) << "key " << key << ": " << r.output;
  EXPECT_EQ(number.str().substr(0, 3), key.substr(0, 3)) << "key " << key << ": " << r.output;
}

TEST(ShortStageSnapshot, ReadsThePasskeysFirstDigitsInHeldOutText) {
  E2LLM_REQUIRE_REAL_MODEL(encoder, kEncoder);
  E2LLM_REQUIRE_REAL_MODEL(decoder, kDecoder);
  E2LLM_REQUIRE_SHARED_DATA(qmsum, test::qmsum_path("val"));
  const PasskeyScore score = read_held_out_passkeys(snapshot_dir(), 100);
  // On 66 such documents the snapshot reads the first digit 100%, the second
  // 98% and the third 92% of the time (chance: about 10% each); here it gets
  // 12 and 12 of 12 (and 6 whole keys). The margins allow for close greedy
  // choices going the other way on another CPU's kernels.
  EXPECT_GE(score.right[1], score.documents - 2);
  EXPECT_GE(score.right[2], score.documents - 3);
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
