// End to end on the real all-MiniLM-L6-v2: our tokenizer + our encoder, driven
// through `e2llm embed` from raw text, against sentence-transformers (golden
// made by scripts/golden/make_encoder_golden.py with max_seq_length 512).
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <sstream>

#include "e2llm/io/fs.h"
#include "e2llm/io/safetensors.h"
#include "e2llm/tokenizer/tokenizer.h"
#include "test_util.h"

using namespace e2llm;

namespace {
std::string golden_folder() { return test::golden_dir() + "/encoder/all-MiniLM-L6-v2"; }
}  // namespace

TEST(EmbedTextRealModel, OurTokenizerGivesSentenceTransformersIds) {
  E2LLM_REQUIRE_REAL_MODEL(model, "all-MiniLM-L6-v2");
  auto tokenizer = Tokenizer::from_file(model);
  tokenizer->set_truncation(Truncation{512});
  auto expected = SafeTensorsFile::open(golden_folder() + "/expected.safetensors");
  torch::Tensor ids = expected->get("token_ids").to(torch::kInt64);
  torch::Tensor lengths = expected->get("lengths").to(torch::kInt64);
  std::istringstream lines(read_text_file(golden_folder() + "/texts.jsonl"));
  std::string line;
  int64_t row = 0, offset = 0;
  while (std::getline(lines, line)) {
    const std::string text = nlohmann::json::parse(line)["text"].get<std::string>();
    const int64_t n = lengths[row].item<int64_t>();
    std::vector<int64_t> want(ids.data_ptr<int64_t>() + offset, ids.data_ptr<int64_t>() + offset + n);
    EXPECT_EQ(tokenizer->encode(text).ids, want) << "text " << row;
    offset += n;
    ++row;
  }
  EXPECT_EQ(row, lengths.size(0));
}

TEST(EmbedTextRealModel, CliFromTextMatchesSentenceTransformers) {
  E2LLM_REQUIRE_REAL_MODEL(model, "all-MiniLM-L6-v2");
  auto r = test::run_cli("embed --max-tokens 512 --model '" + model + "'", golden_folder() + "/texts.jsonl");
  ASSERT_EQ(r.exit_code, 0) << r.output.substr(0, 2000);
  torch::Tensor want = SafeTensorsFile::open(golden_folder() + "/expected.safetensors")->get("embeddings");
  std::istringstream out(r.output);
  std::string line;
  int64_t row = 0;
  double worst = 1.0;
  while (std::getline(out, line)) {
    auto emb = nlohmann::json::parse(line)["embedding"].get<std::vector<float>>();
    ASSERT_LT(row, want.size(0));
    torch::Tensor got = torch::tensor(emb);
    double cos = torch::cosine_similarity(got, want[row], 0).item<double>();
    worst = std::min(worst, cos);
    ++row;
  }
  EXPECT_EQ(row, want.size(0));
  EXPECT_GE(worst, 0.9999);
}
