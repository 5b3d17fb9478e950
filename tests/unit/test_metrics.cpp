// Metric parity with the Python references (tests/golden/eval/metric_pairs.jsonl,
// made by scripts/golden/make_metric_golden.py) and the metric rules.
#include <nlohmann/json.hpp>

#include <fstream>

#include "e2llm/core/error.h"
#include "e2llm/eval/metrics.h"
#include "test_util.h"

using namespace e2llm;

namespace {

std::vector<nlohmann::json> golden_pairs() {
  std::ifstream in(test::golden_dir() + "/eval/metric_pairs.jsonl");
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

void expect_prf(const PRF& got, const nlohmann::json& want, const std::string& what) {
  EXPECT_NEAR(got.precision, want[0].get<double>(), 1e-9) << what;
  EXPECT_NEAR(got.recall, want[1].get<double>(), 1e-9) << what;
  EXPECT_NEAR(got.f, want[2].get<double>(), 1e-9) << what;
}

}  // namespace

TEST(MetricsGolden, HasAtLeast500PairsWithQmsumUnicodeAndEmpty) {
  auto pairs = golden_pairs();
  ASSERT_GE(pairs.size(), 500u);
  size_t empty = 0, non_ascii = 0;
  for (const auto& p : pairs) {
    std::string pred = p["pred"];
    empty += pred.empty();
    non_ascii += std::any_of(pred.begin(), pred.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
  }
  EXPECT_GT(empty, 0u);
  EXPECT_GT(non_ascii, 20u);
}

TEST(MetricsGolden, RougeTokensEqualRougeScore) {
  for (const auto& p : golden_pairs())
    EXPECT_EQ(rouge_tokenize(p["pred"].get<std::string>()), p["rouge_tokens"].get<std::vector<std::string>>())
        << p["pred"];
}

TEST(MetricsGolden, RougeEqualsRougeScoreScoreMulti) {
  size_t checked = 0;
  for (const auto& p : golden_pairs()) {
    if (!p.contains("rouge")) continue;
    RougeScores s = rouge_max(p["refs"].get<std::vector<std::string>>(), p["pred"].get<std::string>());
    std::string what = p["pred"].get<std::string>().substr(0, 80);
    expect_prf(s.rouge1, p["rouge"]["rouge1"], "rouge1 " + what);
    expect_prf(s.rouge2, p["rouge"]["rouge2"], "rouge2 " + what);
    expect_prf(s.rougeL, p["rouge"]["rougeL"], "rougeL " + what);
    expect_prf(s.rougeLsum, p["rouge"]["rougeLsum"], "rougeLsum " + what);
    ++checked;
  }
  EXPECT_GE(checked, 500u);
}

TEST(MetricsGolden, SquadNormalisationAndQaScoresEqualReference) {
  for (const auto& p : golden_pairs()) {
    std::string pred = p["pred"];
    EXPECT_EQ(squad_normalize(pred), p["squad_normalized"].get<std::string>()) << pred;
    QaScores s = qa_scores_max(p["refs"].get<std::vector<std::string>>(), pred);
    EXPECT_NEAR(s.precision, p["qa"]["precision"].get<double>(), 1e-9) << pred;
    EXPECT_NEAR(s.recall, p["qa"]["recall"].get<double>(), 1e-9) << pred;
    EXPECT_NEAR(s.f1, p["qa"]["f1"].get<double>(), 1e-9) << pred;
    EXPECT_EQ(s.exact_match, p["qa"]["exact_match"].get<double>()) << pred;
  }
}

TEST(Metrics, UnicodeLoweringFollowsPython) {
  // Final sigma, the dotted capital I and the Kelvin sign (which lowers to ASCII k).
  EXPECT_EQ(squad_normalize("ΟΔΥΣΣΕΥΣ Σ"), "οδυσσευς σ");
  EXPECT_EQ(rouge_tokenize("\u0130stanbul \u212Aelvin"), (std::vector<std::string>{"i", "stanbul", "kelvin"}));
  // "the" glued to a non-ASCII letter is one word; before a combining mark it is not.
  EXPECT_EQ(squad_normalize("theé the\u0301"), "theé \u0301");
}

TEST(Metrics, RougeOfIdenticalAndDisjointTexts) {
  RougeScores same = rouge("The cat sat.", "the cat sat");
  EXPECT_DOUBLE_EQ(same.rouge1.f, 1.0);
  EXPECT_DOUBLE_EQ(same.rouge2.f, 1.0);
  EXPECT_DOUBLE_EQ(same.rougeL.f, 1.0);
  RougeScores none = rouge("dogs bark", "cats meow");
  EXPECT_EQ(none.rouge1.f, 0.0);
  EXPECT_EQ(rouge_max({}, "anything").rouge1.f, 0.0);
}

TEST(Metrics, ChoiceLetters) {
  EXPECT_EQ(choice_letter("(B) Their subconscious knew"), 'B');
  EXPECT_EQ(choice_letter("C"), 'C');
  EXPECT_EQ(choice_letter("D. because"), 'D');
  EXPECT_EQ(choice_letter("I think the answer is A, since"), 'A');
  EXPECT_EQ(choice_letter("Answer: (C)"), 'C');
  EXPECT_EQ(choice_letter("Because it rains (A) maybe"), 'A');
  EXPECT_EQ(choice_letter("A cat sat"), std::nullopt);
  EXPECT_EQ(choice_letter(""), std::nullopt);
  EXPECT_EQ(strip_choice_letter(" (B) Their subconscious "), "Their subconscious");
  auto s = score_example(MetricKind::choice, {"(B) The red one."}, "B) the red one");
  EXPECT_EQ(s[0].second, 1.0);
  EXPECT_EQ(s[1].second, 1.0);
  EXPECT_EQ(score_example(MetricKind::choice, {"(B) x"}, "(C) x")[0].second, 0.0);
}

TEST(Metrics, PasskeyAndNeedle) {
  EXPECT_TRUE(passkey_correct("42817", " 42817. Remember it."));
  EXPECT_FALSE(passkey_correct("42817", "4281"));
  EXPECT_FALSE(passkey_correct("42817", "428170"));
  EXPECT_FALSE(passkey_correct("42817", "no digits"));
  EXPECT_TRUE(needle_correct("eat a sandwich in Dolores Park", "You should Eat a sandwich in Dolores Park!"));
  EXPECT_FALSE(needle_correct("Dolores Park", "Dolores Parkway"));
  EXPECT_FALSE(needle_correct("", "anything"));
}

TEST(Metrics, AggregateIsMeanTimes100WithGeometricMean) {
  std::vector<NamedScores> rows = {score_example(MetricKind::rouge, {"a b c d"}, "a b c d"),
                                   score_example(MetricKind::rouge, {"a b c d"}, "a b x y")};
  NamedScores agg = aggregate_scores(MetricKind::rouge, rows);
  auto get = [&](const std::string& name) {
    for (auto& [n, v] : agg)
      if (n == name) return v;
    ADD_FAILURE() << name;
    return -1.0;
  };
  EXPECT_EQ(get("n"), 2);
  EXPECT_NEAR(get("rouge1_f"), 75.0, 1e-12);         // (1 + 0.5) / 2
  EXPECT_NEAR(get("rouge2_f"), (100 + 100 / 3.0) / 2, 1e-12);  // (1 + 1/3) / 2
  EXPECT_NEAR(get("rouge_geo_mean"), std::cbrt(get("rouge1_f") * get("rouge2_f") * get("rougeL_f")), 1e-12);
  EXPECT_THROW(parse_metric_kind("bleu"), Error);
}
