// Converters on the real files in ../shared/data and on small hand-made files
// (tests/data/eval) of the layouts that are not there; and `e2llm convert`.
#include <algorithm>
#include <filesystem>
#include <set>
#include <fstream>

#include "e2llm/data/datasets.h"
#include "e2llm/core/error.h"
#include "test_util.h"

using namespace e2llm;
using test::run_cli;
using test::TempDir;

namespace {

struct Converted {
  std::vector<Example> examples;
  std::vector<std::string> errors;
};

Converted convert(DatasetFormat format, const std::string& input, ConvertOptions options = {}) {
  options.format = format;
  options.input = input;
  Converted c;
  c.errors = convert_dataset(options, [&](const Example& e) { c.examples.push_back(e); });
  return c;
}

std::string shared_data(const std::string& rel) { return test::shared_dir() + "/data/" + rel; }

#define REQUIRE_SHARED(var, rel) E2LLM_REQUIRE_SHARED_DATA(var, shared_data(rel))

std::string data(const std::string& rel) { return test::test_data_dir() + "/eval/" + rel; }

size_t count_if_meta(const std::vector<Example>& v, const char* key, const char* value) {
  return std::count_if(v.begin(), v.end(), [&](const Example& e) { return e.meta.value(key, "") == value; });
}

}  // namespace

TEST(ConvertQmsum, RealTestSplitHasAllQueriesWithSpeakerLines) {
  REQUIRE_SHARED(path, "qmsum/test.jsonl");
  auto c = convert(DatasetFormat::qmsum, path);
  EXPECT_TRUE(c.errors.empty());
  ASSERT_EQ(c.examples.size(), 281u);  // the SCROLLS test split size
  EXPECT_EQ(count_if_meta(c.examples, "query_type", "general"), 37u);
  EXPECT_EQ(count_if_meta(c.examples, "query_type", "specific"), 244u);
  const Example& first = c.examples.front();
  EXPECT_EQ(first.context.rfind("Lynne Neagle AM: Good afternoon, everyone.", 0), 0u);
  EXPECT_EQ(first.prompt, "Summarize the whole meeting.");
  EXPECT_EQ(first.answers.front().rfind("This meeting was the eleventh evidence session", 0), 0u);
  std::set<std::string> ids;
  for (const auto& e : c.examples) ids.insert(e.id);
  EXPECT_EQ(ids.size(), c.examples.size());
}

TEST(ConvertQmsum, RealValAndTrainSplitsAndLevalLayout) {
  REQUIRE_SHARED(val, "qmsum/val.jsonl");
  EXPECT_EQ(convert(DatasetFormat::qmsum, val).examples.size(), 272u);
  EXPECT_EQ(convert(DatasetFormat::qmsum, shared_data("qmsum/train.jsonl")).examples.size(), 1257u);
  auto leval = convert(DatasetFormat::qmsum, shared_data("qmsum/leval_meeting_summ.jsonl"));
  EXPECT_TRUE(leval.errors.empty());
  EXPECT_EQ(leval.examples.size(), 177u);
  EXPECT_EQ(leval.examples.front().prompt, "What was agreed upon on sample transcripts?");
}

TEST(ConvertGovreport, RealLevalFile) {
  REQUIRE_SHARED(path, "govreport/leval_gov_report_summ.jsonl");
  auto c = convert(DatasetFormat::govreport, path);
  EXPECT_TRUE(c.errors.empty());
  ASSERT_EQ(c.examples.size(), 14u);
  EXPECT_EQ(c.examples[0].prompt, "Please help me summarize this government report.");
  EXPECT_EQ(c.examples[0].context.rfind("F ederal law provides", 0), 0u);
}

TEST(ConvertGovreport, OfficialGaoAndCrsFolderSkipsBrokenReport) {
  auto c = convert(DatasetFormat::govreport, data("govreport"));
  ASSERT_EQ(c.examples.size(), 2u);
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_NE(c.errors[0].find("broken.json"), std::string::npos) << c.errors[0];
  EXPECT_NE(c.errors[0].find("missing field 'reports'"), std::string::npos) << c.errors[0];
  const Example& crs = c.examples[0];  // crs/ sorts before gao/
  EXPECT_EQ(crs.id, "govreport-R45000");
  EXPECT_EQ(crs.context, "The President has emergency powers.\nStatutes\nCongress delegated some authority.");
  EXPECT_EQ(crs.answers, std::vector<std::string>{"This report reviews emergency powers.\nIt lists the statutes."});
  const Example& gao = c.examples[1];
  EXPECT_EQ(gao.context,
            "Letter\nBridges are inspected every two years.\nSome states lag behind.\nBackground\n"
            "Federal law sets the schedule.\nFindings\nThe backlog grew by ten percent.");
  EXPECT_EQ(gao.answers[0],
            "What GAO Found\nInspection backlogs are growing.\nWhy GAO Did This Study\nCongress asked GAO to review "
            "inspections.");
  EXPECT_EQ(gao.meta["agency"], "gao");
}

TEST(ConvertQuality, RealLevalFileHasOptionsInPrompt) {
  REQUIRE_SHARED(path, "quality/leval_quality.jsonl");
  auto c = convert(DatasetFormat::quality, path);
  EXPECT_TRUE(c.errors.empty());
  ASSERT_EQ(c.examples.size(), 202u);
  EXPECT_NE(c.examples[0].prompt.find("(D)"), std::string::npos);
  EXPECT_EQ(c.examples[0].answers[0].rfind("(B) Their subconscious", 0), 0u);
}

TEST(ConvertQuality, RealRawExampleStripsHtml) {
  REQUIRE_SHARED(path, "quality/quality_example.jsonl");
  auto c = convert(DatasetFormat::quality, path);
  EXPECT_TRUE(c.errors.empty());
  ASSERT_EQ(c.examples.size(), 10u);  // two lines, five questions each
  const Example& e = c.examples[0];
  EXPECT_EQ(e.context.find('<'), std::string::npos);
  EXPECT_EQ(e.context.rfind("THE GIRL IN HIS MIND\n\nBy ROBERT F. YOUNG", 0), 0u) << e.context.substr(0, 80);
  EXPECT_EQ(e.answers[0].rfind("(B) Because Deirdre has fallen in love", 0), 0u);
  EXPECT_EQ(e.meta["gold"], "B");
  EXPECT_NE(e.prompt.find("\n(A) Because Blake is trying"), std::string::npos);
  EXPECT_NE(c.examples[0].id, c.examples[5].id);
}

TEST(ConvertQuality, OfficialLayoutKeepsGoodLinesAndNamesTheBadOne) {
  auto c = convert(DatasetFormat::quality, data("quality_official.jsonl"));
  ASSERT_EQ(c.examples.size(), 2u);
  EXPECT_EQ(c.examples[0].id, "quality-20001_A_1");
  EXPECT_EQ(c.examples[0].prompt, "What did the crew find?\n\n(A) Gold\n(B) Water\n(C) Aliens\n(D) Nothing");
  EXPECT_EQ(c.examples[0].answers, std::vector<std::string>{"(B) Water"});
  EXPECT_TRUE(c.examples[1].answers.empty());  // no gold label (as in the test split)
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_NE(c.errors[0].find("quality_official.jsonl:2: missing field 'options'"), std::string::npos) << c.errors[0];
}

TEST(ConvertNarrativeqa, OfficialCsvAndStoriesFolder) {
  auto c = convert(DatasetFormat::narrativeqa, data("narrativeqa"));
  ASSERT_EQ(c.examples.size(), 3u);
  EXPECT_EQ(c.examples[0].answers, (std::vector<std::string>{"The king", "A king, old and \"wise\""}));
  EXPECT_EQ(c.examples[0].context.rfind("Once upon a time", 0), 0u);
  EXPECT_EQ(c.examples[0].meta["title"], "The Story, One");
  EXPECT_EQ(c.examples[1].prompt, "What is in the\nmoat?");
  EXPECT_EQ(c.examples[1].id, "narrativeqa-3");  // the record starts on line 3
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_NE(c.errors[0].find("qaps.csv:6: story file"), std::string::npos) << c.errors[0];

  ConvertOptions only_train;
  only_train.split = "train";
  auto train = convert(DatasetFormat::narrativeqa, data("narrativeqa"), only_train);
  ASSERT_EQ(train.examples.size(), 1u);
  EXPECT_EQ(train.examples[0].meta["kind"], "movie");
}

TEST(ConvertNarrativeqa, RealDocumentsCsvGivesMetadata) {
  REQUIRE_SHARED(documents, "narrativeqa/documents.csv");
  TempDir dir;
  std::filesystem::create_symlink(documents, dir.file("documents.csv"));
  std::filesystem::create_directory(dir.file("tmp"));
  const std::string id = "0025577043f5090cd603c6aea60f26e236195594";
  std::ofstream(dir.file("qaps.csv")) << "document_id,set,question,answer1,answer2\n" << id << ",test,Who?,Harry,Happy Harry\n";
  std::ofstream(dir.file("tmp/" + id + ".content")) << "A radio story.";
  auto c = convert(DatasetFormat::narrativeqa, dir.path());
  ASSERT_EQ(c.examples.size(), 1u) << (c.errors.empty() ? "" : c.errors[0]);
  EXPECT_EQ(c.examples[0].meta["title"], "Pump Up the Volume (film)");
  EXPECT_EQ(c.examples[0].meta["kind"], "movie");
}

TEST(ConvertTriviaqa, EvidenceFilesPerDocumentAndPerQuestion) {
  auto c = convert(DatasetFormat::triviaqa, data("triviaqa/qa/web-dev.json"));
  ASSERT_EQ(c.examples.size(), 3u);
  EXPECT_EQ(c.examples[0].id, "tc_33--Andrew_Lloyd_Webber.txt");
  EXPECT_EQ(c.examples[1].id, "tc_33--35/35_995.txt");
  EXPECT_EQ(c.examples[0].answers, (std::vector<std::string>{"Sunset Blvd", "Sunset Boulevard"}));
  EXPECT_EQ(c.examples[2].answers, (std::vector<std::string>{"Paris (France)", "Paris"}));
  ASSERT_EQ(c.errors.size(), 2u);
  EXPECT_NE(c.errors[0].find("Data[0] (tc_33): evidence file"), std::string::npos) << c.errors[0];
  EXPECT_NE(c.errors[1].find("Data[1]: missing field 'QuestionId'"), std::string::npos) << c.errors[1];

  ConvertOptions per_question;
  per_question.per_question = true;
  auto q = convert(DatasetFormat::triviaqa, data("triviaqa/qa/web-dev.json"), per_question);
  ASSERT_EQ(q.examples.size(), 2u);
  EXPECT_EQ(q.examples[0].id, "tc_33");
  EXPECT_NE(q.examples[0].context.find("Sunset Boulevard opened on Broadway"), std::string::npos);
  EXPECT_NE(q.examples[0].context.find("premiered in the US"), std::string::npos);
}

TEST(ConvertTriviaqa, RealSampleWithHandMadeEvidence) {
  REQUIRE_SHARED(sample, "triviaqa/triviaqa_sample.json");
  TempDir dir;
  std::filesystem::create_directories(dir.file("wikipedia"));
  std::filesystem::create_directories(dir.file("web/35"));
  std::ofstream(dir.file("wikipedia/Andrew_Lloyd_Webber.txt")) << "Wiki text.";
  std::ofstream(dir.file("web/35/35_995.txt")) << "Web text.";
  ConvertOptions o;
  o.evidence_dir = dir.path();
  auto c = convert(DatasetFormat::triviaqa, sample, o);
  EXPECT_TRUE(c.errors.empty());
  ASSERT_EQ(c.examples.size(), 2u);
  EXPECT_EQ(c.examples[0].id, "tc_33--Andrew_Lloyd_Webber.txt");  // the key sample_predictions.json uses
  EXPECT_EQ(c.examples[0].answers.size(), 5u);
}

TEST(ConvertLongbench, KeepsGoodLinesAndNamesTheBadOne) {
  auto c = convert(DatasetFormat::longbench, data("longbench.jsonl"));
  ASSERT_EQ(c.examples.size(), 2u);
  EXPECT_EQ(c.examples[0].id, "lb-001");
  EXPECT_EQ(c.examples[0].prompt, "Who wrote the letter?");
  EXPECT_EQ(c.examples[1].answers, (std::vector<std::string>{"blue", "Blue"}));
  EXPECT_EQ(c.examples[1].meta["dataset"], "triviaqa");
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_NE(c.errors[0].find("longbench.jsonl:2: missing field 'context'"), std::string::npos) << c.errors[0];
}

TEST(ConvertCli, WritesGoodRecordsAndFailsOnMalformedUnlessKeepGoing) {
  TempDir dir;
  auto r = run_cli("convert --format longbench --input " + data("longbench.jsonl") + " --output " + dir.file("o.jsonl"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("e2llm: error: 1 malformed record(s) skipped, first:"), std::string::npos) << r.output;
  auto examples = read_examples(dir.file("o.jsonl"));
  ASSERT_EQ(examples.size(), 2u);
  EXPECT_EQ(examples[1].id, "lb-003");
  r = run_cli("convert --keep-going --format longbench --input " + data("longbench.jsonl") + " --output " +
              dir.file("o.jsonl"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = run_cli("convert --format nope --input x --output " + dir.file("o.jsonl"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("unknown dataset format 'nope'"), std::string::npos) << r.output;
}

TEST(DatasetIo, ReadExamplesNamesFileAndLine) {
  TempDir dir;
  std::ofstream(dir.file("d.jsonl")) << R"({"id": "a", "answers": ["x"]})" << "\n" << R"({"id": "b"})" << "\n";
  try {
    read_examples(dir.file("d.jsonl"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("d.jsonl:2: record: missing field 'answers'"), std::string::npos) << e.what();
  }
}
