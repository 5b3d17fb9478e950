#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "e2llm/e2llm/e2llm_model.h"
#include "e2llm/core/error.h"
#include "e2llm/encoder/encoder.h"
#include "e2llm/io/checkpoint.h"
#include "e2llm/io/fs.h"
#include "e2llm/nn/lora.h"
#include "e2llm/train/e2llm_task.h"
#include "e2llm/data/synthetic.h"
#include "test_e2llm_models.h"
#include "test_util.h"
#include "support/random_models.h"

using namespace e2llm;
using e2llm::test::TempDir;

namespace {

// Runs the CLI with stdout and stderr apart (stderr through `err_file`).
struct SplitResult {
  int exit_code = -1;
  std::string out, err;
};

SplitResult run_cli_split(const std::string& args, const std::string& err_file) {
  SplitResult r;
  FILE* pipe = ::popen((test::cli_path() + " " + args + " 2>'" + err_file + "'").c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(err_file, std::ios::binary);
  r.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return r;
}

struct Fixture : ::testing::Test {
  TempDir dir;
  KvOptions task{.vocabulary = KvVocabulary::closed};
  test::TinyModels models = test::write_tiny_models(dir.path(), kv_vocabulary(task), 128);
  std::vector<Example> examples = kv_dataset({.facts = 2, .words = 300, .seed = 3, .vocabulary = KvVocabulary::closed, .min_fact_gap = 7}, 4);
};

}  // namespace

TEST(E2llmConfigJson, RoundTripsAndRejectsUnknownKeys) {
  E2llmConfig c;
  c.encoder_path = "enc";
  c.decoder_path = "dec";
  c.pooling = {PoolingMode::kAttention, 4, 2, true};
  c.decoder_lora_targets = {"q_proj", "v_proj"};
  E2llmConfig back = E2llmConfig::from_json(c.to_json());
  EXPECT_EQ(back.to_json(), c.to_json());
  EXPECT_EQ(back.pooling.mode, PoolingMode::kAttention);
  nlohmann::json bad = c.to_json();
  bad["chunksize"] = 3;
  EXPECT_THROW(E2llmConfig::from_json(bad), Error);
  bad = c.to_json();
  bad["prompt_template"] = "no placeholder";
  EXPECT_THROW(E2llmConfig::from_json(bad), Error);
  for (const char* device : {"cpu", "cuda", "cuda:1", "auto"}) {
    nlohmann::json j = c.to_json();
    j["device"] = device;
    EXPECT_EQ(E2llmConfig::from_json(j).device, device);
  }
  for (const char* device : {"gpu", "cuda:", "cuda:x", ""}) {
    bad = c.to_json();
    bad["device"] = device;
    EXPECT_THROW(E2llmConfig::from_json(bad), Error) << device;
  }
}

TEST_F(Fixture, TheFingerprintDependsOnNeitherTheDeviceNorTheAnswerDefaults) {
  E2llmConfig config = test::tiny_e2llm_config(models);
  torch::manual_seed(0);
  E2llmModel on_cpu(config);
  config.device = "auto";  // the CPU here too, but another setting
  torch::manual_seed(0);
  E2llmModel on_auto(config);
  EXPECT_TRUE(on_auto.device().is_cpu() || torch::cuda::is_available());
  if (on_auto.device().is_cpu()) {
    EXPECT_EQ(on_cpu.fingerprint(), on_auto.fingerprint());
  }
  config.device = "cpu";
  config.repetition_penalty = 1.2;  // how it answers, not what its vectors are
  config.no_repeat_ngram_size = 3;
  torch::manual_seed(0);
  EXPECT_EQ(E2llmModel(config).fingerprint(), on_cpu.fingerprint());
  config.chunker.chunk_size -= 1;  // a setting that changes the vectors does change it
  torch::manual_seed(0);
  EXPECT_NE(E2llmModel(config).fingerprint(), on_cpu.fingerprint());
}

// An answer reports its encoding from none to all chunks, after each encoder
// pass, and streams the text it returns.
TEST_F(Fixture, GenerateReportsEncodingProgressAndStreamsTheAnswer) {
  torch::manual_seed(0);
  E2llmModel model(test::tiny_e2llm_config(models));
  const ChunkedContext chunked = model.chunk_context(examples[0].context);
  ASSERT_GT(chunked.ids.size(), 1u);
  std::vector<std::pair<size_t, size_t>> reports;
  std::string streamed;
  AnswerOptions options(6);
  options.ignore_eos = true;
  options.on_encoded = [&](size_t done, size_t total) { reports.emplace_back(done, total); };
  options.on_text = [&](std::string_view text) { streamed += text; };
  const std::string answer = model.generate(examples[0].context, examples[0].prompt, options);
  const size_t total = chunked.ids.size();
  ASSERT_GE(reports.size(), 2u);
  EXPECT_EQ(reports.front(), std::make_pair(size_t{0}, total));
  EXPECT_EQ(reports.back(), std::make_pair(total, total));
  for (size_t i = 1; i < reports.size(); ++i) EXPECT_GT(reports[i].first, reports[i - 1].first);
  EXPECT_FALSE(answer.empty());
  EXPECT_EQ(streamed, answer);

  // A frozen encoder side whose vectors of this text are cached: at once done.
  E2llmConfig frozen = test::tiny_e2llm_config(models);
  frozen.encoder_lora_rank = 0;
  frozen.pooling = {PoolingMode::kMean, 1, 4, false};
  E2llmModel cached(frozen);
  cached.encode_chunks(cached.chunk_context(examples[0].context));
  reports.clear();
  cached.generate(examples[0].context, examples[0].prompt, options);
  EXPECT_EQ(cached.pooled_cache_hits(), 1);
  const size_t chunks = cached.chunk_context(examples[0].context).ids.size();
  EXPECT_EQ(reports, (std::vector<std::pair<size_t, size_t>>{{0, chunks}, {chunks, chunks}}));
}

// A text whose soft tokens alone would fill the decoder's window (128 here,
// 2 per 30-token chunk) is refused before any chunk is encoded.
TEST_F(Fixture, ATextPastTheDecodersWindowIsRefusedBeforeEncoding) {
  torch::manual_seed(0);
  E2llmModel model(test::tiny_e2llm_config(models));
  std::string long_text;
  while (model.chunk_context(long_text).chunks.size() < 64) long_text += examples[0].context + " ";
  const int64_t chunks = static_cast<int64_t>(model.chunk_context(long_text).chunks.size());
  bool encoded = false;
  AnswerOptions options(4);
  options.on_encoded = [&](size_t, size_t) { encoded = true; };
  try {
    model.generate(long_text, examples[0].prompt, options);
    ADD_FAILURE() << "a text past the window was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fmt::format("the text is {} chunks", chunks)), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("fill the decoder's window of 128"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(encoded);
  EXPECT_NO_THROW(model.generate(examples[0].context, examples[0].prompt, options));  // a short text still reads
  EXPECT_EQ(model.window_overflow(model.chunk_context(examples[0].context), examples[0].prompt), "");

  // The prompt counts too: a text that fits with a short question does not
  // with a long one.
  std::string fitting;
  while (model.chunk_context(fitting + examples[0].context).chunks.size() * 2 < 110) fitting += examples[0].context + " ";
  const ChunkedContext chunked = model.chunk_context(fitting);
  EXPECT_EQ(model.window_overflow(chunked, examples[0].prompt), "");
  std::string long_prompt;
  for (int i = 0; i < 30; ++i) long_prompt += examples[0].prompt + " ";
  EXPECT_NE(model.window_overflow(chunked, long_prompt), "");

  // A training run that evaluates refuses such an eval example before its first step.
  Example long_eval = examples[0];
  long_eval.id = "long";
  long_eval.context = long_text;
  E2llmTrainTask with_long_eval(model, examples, {long_eval}, 4, 4);
  try {
    with_long_eval.check_eval_fits();
    ADD_FAILURE() << "an eval example past the window was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("training: eval example 'long': the text is"), std::string::npos) << e.what();
  }
}

TEST_F(Fixture, ChunksEncodeToKSoftTokensEachAndOnlyE2llmPartsTrain) {
  torch::manual_seed(0);
  E2llmModel model(test::tiny_e2llm_config(models));
  ChunkedContext chunked = model.chunk_context(examples[0].context);
  ASSERT_GT(chunked.ids.size(), 5u);
  for (const auto& ids : chunked.ids) {
    EXPECT_LE(ids.size(), 32u);
    EXPECT_EQ(ids.front(), 2);  // [CLS]
    EXPECT_EQ(ids.back(), 3);   // [SEP]
  }
  torch::Tensor soft = model.encode_chunks(chunked);
  EXPECT_EQ(soft.sizes(), (torch::IntArrayRef{static_cast<int64_t>(chunked.ids.size()) * 2, 64}));

  std::vector<std::string> names;
  for (auto& [name, t] : model.named_trainable()) names.push_back(name);
  EXPECT_NE(std::find(names.begin(), names.end(), "adapter.fc1.weight"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "markers.begin"), names.end());
  auto has_prefix = [&](const std::string& p) {
    return std::any_of(names.begin(), names.end(), [&](const std::string& n) { return n.rfind(p, 0) == 0; });
  };
  EXPECT_TRUE(has_prefix("encoder_lora.base_model.model.encoder.layer.0."));
  EXPECT_TRUE(has_prefix("decoder_lora.base_model.model.model.layers.0."));
  for (auto& p : model.decoder().named_parameters()) {
    if (p.key().find("lora_") == std::string::npos) {
      EXPECT_FALSE(p.value().requires_grad()) << p.key();
    }
  }

  std::mt19937_64 rng(1);
  E2llmLosses l = e2llm_losses(model, examples[0].context, examples[0].prompt, examples[0].answers[0], rng);
  ASSERT_TRUE(l.understand.defined());
  EXPECT_TRUE(std::isfinite(l.reason.item<double>()));
  (l.reason + l.understand).backward();
  for (auto& [name, t] : model.named_trainable()) {
    if (name.find("lora_A") != std::string::npos) continue;  // B starts at zero, so A gets no gradient yet
    ASSERT_TRUE(t.grad().defined()) << name;
    EXPECT_GT(t.grad().abs().sum().item<double>(), 0.0) << name;
  }
}

TEST_F(Fixture, SeveralExamplesInOnePassGiveEachItsOwnLossesAndGradients) {
  torch::manual_seed(0);
  E2llmModel model(test::tiny_e2llm_config(models));
  // Some encoder and decoder LoRA B factors off zero, so that every trainable tensor has a gradient.
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, t] : model.named_trainable())
      if (name.find("lora_B") != std::string::npos) t.normal_(0, 0.05);
  }
  auto grads = [&] {
    std::vector<torch::Tensor> out;
    for (auto& [name, t] : model.named_trainable()) {
      out.push_back(t.grad().defined() ? t.grad().clone() : torch::zeros_like(t));
      t.mutable_grad() = torch::Tensor();
    }
    return out;
  };
  // One at a time, then three at once with the same RNG states: documents of different lengths.
  std::vector<std::mt19937_64> rngs = {std::mt19937_64(1), std::mt19937_64(2), std::mt19937_64(3)};
  std::vector<std::mt19937_64> same = rngs;
  std::vector<double> reason, understand;
  torch::Tensor total;
  for (size_t i = 0; i < 3; ++i) {
    const Example& e = examples[i];
    E2llmLosses l = e2llm_losses(model, e.context, e.prompt, e.answers[0], rngs[i]);
    reason.push_back(l.reason.item<double>());
    understand.push_back(l.understand.item<double>());
    torch::Tensor sum = l.reason + l.understand;
    total = total.defined() ? total + sum : sum;
  }
  total.backward();
  std::vector<torch::Tensor> one_at_a_time = grads();

  std::vector<LossExample> batch;
  for (size_t i = 0; i < 3; ++i) batch.push_back({examples[i].context, examples[i].prompt, examples[i].answers[0], same[i]});
  std::vector<E2llmLosses> together = e2llm_losses(model, batch);
  ASSERT_EQ(together.size(), 3u);
  total = torch::Tensor();
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(together[i].reason.item<double>(), reason[i], 1e-5) << i;
    EXPECT_NEAR(together[i].understand.item<double>(), understand[i], 1e-5) << i;
    torch::Tensor sum = together[i].reason + together[i].understand;
    total = total.defined() ? total + sum : sum;
  }
  total.backward();
  std::vector<torch::Tensor> in_one_pass = grads();
  auto names = model.named_trainable();
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_GT(one_at_a_time[i].abs().max().item<double>(), 0.0) << names[i].first;
    EXPECT_TRUE(torch::allclose(in_one_pass[i], one_at_a_time[i], 1e-4, 1e-6)) << names[i].first;
  }
}

TEST_F(Fixture, TrainingSeveralMicroBatchesPerPassTakesTheSameSteps) {
  auto train = [&](int64_t per_pass) {
    torch::manual_seed(0);
    auto model = std::make_unique<E2llmModel>(test::tiny_e2llm_config(models));
    E2llmTrainTask task(*model, examples);
    TrainOptions o;
    o.max_steps = 3;
    o.lr = 1e-2;
    o.grad_accum = 4;
    o.micro_batches_per_pass = per_pass;
    o.progress = false;
    Trainer(task, o).run();
    return model;
  };
  auto single = train(1), grouped = train(3);  // passes of 3 + 1 micro-batches
  auto a = single->named_trainable(), b = grouped->named_trainable();
  ASSERT_EQ(a.size(), b.size());
  double largest_step = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::allclose(a[i].second, b[i].second, 1e-4, 1e-6)) << a[i].first;
    largest_step = std::max(largest_step, a[i].second.abs().max().item<double>());
  }
  EXPECT_GT(largest_step, 0.0);
}

TEST_F(Fixture, CalibrationStandardizesThePooledVectorsBeforeTheAdapter) {
  torch::manual_seed(0);
  E2llmConfig config = test::tiny_e2llm_config(models);
  config.pooling = {PoolingMode::kMean, 1, 4, false};
  E2llmModel model(config);
  std::vector<std::string> contexts;
  for (const Example& e : examples) contexts.push_back(e.context);
  model.calibrate(contexts);

  // The statistics are those of the chunks' pooled vectors, measured here independently.
  std::vector<std::vector<int64_t>> ids;
  for (const std::string& c : contexts)
    for (auto& chunk : model.chunk_context(c).ids) ids.push_back(chunk);
  torch::Tensor pooled;
  {
    torch::NoGradGuard no_grad;
    TextEncoder encoder = TextEncoder::load(config.encoder_path, EncoderOptions{});
    Pooler mean_pooler(config.pooling, encoder.hidden_size());
    pooled = encoder.encode_tokens(ids, mean_pooler).squeeze(1);
  }
  std::map<std::string, torch::Tensor> state;
  for (auto& [name, t] : model.named_state()) state[name] = t;
  ASSERT_TRUE(state.count("adapter.input_mean") && state.count("adapter.input_std"));
  EXPECT_FALSE(state["adapter.input_mean"].requires_grad());
  EXPECT_TRUE(torch::allclose(state["adapter.input_mean"], pooled.mean(0), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(state["adapter.input_std"], pooled.std(0), 1e-4, 1e-6));
  torch::Tensor standardized = (pooled - state["adapter.input_mean"]) / state["adapter.input_std"];
  EXPECT_LT(standardized.mean(0).abs().max().item<double>(), 1e-4);
  EXPECT_NEAR(standardized.std(0).mean().item<double>(), 1.0, 1e-4);

  // Too little text to measure a spread is refused by name.
  EXPECT_THROW(model.calibrate({""}), Error);
  // Switched off: no statistics exist and none are stored.
  config.standardize_pooled = false;
  E2llmModel plain(config);
  for (auto& [name, t] : plain.named_state()) EXPECT_EQ(name.find("input_"), std::string::npos) << name;
}

TEST_F(Fixture, CheckpointRestoresTheModelAndRefusesOtherBaseModels) {
  TempDir out;
  torch::manual_seed(0);
  E2llmModel model(test::tiny_e2llm_config(models));
  E2llmTrainTask task(model, examples);
  TrainOptions o;
  o.max_steps = 3;
  o.lr = 1e-2;
  o.output_dir = out.path();
  o.progress = false;
  Trainer(task, o).run();
  const std::string expected = model.generate(examples[1].context, examples[1].prompt, {4});

  torch::manual_seed(99);  // other random initial weights, all overwritten by the checkpoint
  auto restored = load_e2llm(out.path());
  EXPECT_EQ(restored->generate(examples[1].context, examples[1].prompt, {4}), expected);
  // For inference the adapters are folded into the float base weights (the
  // decoder's here; the encoder's by the same call), with the same soft tokens
  // up to rounding.
  int64_t adapted = 0;
  for (auto& [name, linear] : nn::named_linears(restored->decoder()))
    if (linear->has_lora()) {
      EXPECT_TRUE(linear->merged()) << name;
      ++adapted;
    }
  EXPECT_GT(adapted, 0);
  {
    torch::NoGradGuard no_grad;
    const ChunkedContext chunked = model.chunk_context(examples[1].context);
    EXPECT_TRUE(torch::allclose(restored->encode_chunks(chunked), model.encode_chunks(chunked), 1e-5, 1e-5));
  }
  for (auto& [name, t] : restored->named_state()) {
    auto original = model.named_state();
    auto it = std::find_if(original.begin(), original.end(), [&](const auto& p) { return p.first == name; });
    ASSERT_NE(it, original.end());
    EXPECT_TRUE(torch::equal(t, it->second)) << name;
  }

  // Another decoder at the same path: refused, naming both identities.
  write_random_decoder(models.decoder, tiny_decoder_config(DecoderFamily::Llama), 77);
  try {
    load_e2llm(out.path());
    FAIL() << "expected a refusal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("another base model"), std::string::npos) << e.what();
  }
}

TEST_F(Fixture, CliTrainsAndAnswers) {
  TempDir out;
  write_examples(dir.file("train.jsonl"), examples);
  write_file_atomic(dir.file("context.txt"), examples[0].context);
  nlohmann::json config = {{"model", test::tiny_e2llm_config(models).to_json()},
                           {"training", {{"max_steps", 2}, {"output_dir", out.path()}, {"lr", 1e-3}}},
                           {"data", {{"train", "train.jsonl"}}}};
  write_file_atomic(dir.file("config.json"), config.dump(2));
  auto trained = test::run_cli("train --config " + dir.file("config.json") + " --quiet");
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  EXPECT_NE(trained.output.find("trained to step 2"), std::string::npos) << trained.output;

  // What the library answers with the same checkpoint, context and question
  // (greedy), and how it chunks the context.
  const std::string question = "what is held by k1";
  const int64_t max_new_tokens = 6;
  std::string expected;
  AnswerTiming timing;
  ChunkedContext chunked;
  int64_t chunk_size = 0;
  {
    torch::InferenceMode inference;
    auto model = load_e2llm(out.path());
    chunked = model->chunk_context(examples[0].context);
    chunk_size = model->chunk_size();
    expected = model->generate(examples[0].context, question, {max_new_tokens}, &timing);
  }
  ASSERT_GT(chunked.ids.size(), 1u);
  EXPECT_EQ(timing.chunks, static_cast<int64_t>(chunked.ids.size()));
  ASSERT_FALSE(expected.empty()) << "an empty answer would make the comparison below say little";

  // The CLI prints that answer alone on stdout; --verbose reports on stderr.
  auto answered = run_cli_split("answer --model " + out.path() + " --context " + dir.file("context.txt") +
                                    " --question '" + question + "' --max-new-tokens " +
                                    std::to_string(max_new_tokens) + " --verbose",
                                dir.file("stderr.txt"));
  ASSERT_EQ(answered.exit_code, 0) << answered.out << answered.err;
  EXPECT_EQ(answered.out, expected + "\n") << answered.err;
  const std::string& report = answered.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(report, m, std::regex(R"(chunks +(\d+) \(chunk size (\d+) encoder tokens\))")))
      << report;
  EXPECT_EQ(std::stoll(m[1]), static_cast<int64_t>(chunked.ids.size())) << report;
  EXPECT_EQ(std::stoll(m[2]), chunk_size) << report;
  ASSERT_TRUE(std::regex_search(report, m,
                                std::regex(R"(context tokens +(\d+) encoder tokens -> (\d+) decoder positions)")))
      << report;
  EXPECT_EQ(std::stoll(m[1]), chunked.context_tokens) << report;
  EXPECT_EQ(std::stoll(m[2]), timing.soft_tokens) << report;
  ASSERT_TRUE(std::regex_search(report, m, std::regex(R"(decode +[0-9.]+ s \((\d+) tokens\))"))) << report;
  EXPECT_EQ(std::stoll(m[1]), timing.generated_tokens) << report;
  // Which model answered, and with which repetition settings (the checkpoint's: none).
  EXPECT_NE(report.find("model             " + latest_checkpoint(out.path()) +
                        " (repetition penalty 1, no-repeat n-gram size 0)"),
            std::string::npos)
      << report;
  for (const char* line : {"compression", "encode", "prefill", "peak memory"})
    EXPECT_NE(report.find(line), std::string::npos) << line << " in " << report;

  // The context may come on standard input.
  auto piped = run_cli_split("answer --model " + out.path() + " --context - --question '" + question +
                                 "' --max-new-tokens " + std::to_string(max_new_tokens) + " < '" +
                                 dir.file("context.txt") + "'",
                             dir.file("stderr2.txt"));
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.out, expected + "\n") << piped.err;

  // --device: the CPU explicitly is the same; a GPU this build or machine
  // lacks is a clear error, not a silent CPU run.
  auto on_cpu = run_cli_split("--device cpu answer --model " + out.path() + " --context " + dir.file("context.txt") +
                                  " --question '" + question + "' --max-new-tokens " + std::to_string(max_new_tokens),
                              dir.file("stderr3.txt"));
  EXPECT_EQ(on_cpu.exit_code, 0) << on_cpu.err;
  EXPECT_EQ(on_cpu.out, expected + "\n") << on_cpu.err;
  if (!torch::cuda::is_available()) {
    auto no_gpu = test::run_cli("--device cuda answer --model " + out.path() + " --context " +
                                dir.file("context.txt") + " --question q");
    EXPECT_EQ(no_gpu.exit_code, 1);
    EXPECT_NE(no_gpu.output.find("CUDA is not available"), std::string::npos) << no_gpu.output;
  }

  auto missing = test::run_cli("answer --model " + dir.file("nope") + " --context x --question q");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("e2llm: error:"), std::string::npos) << missing.output;
}

TEST_F(Fixture, FrozenEncoderSideEncodesEachContextOnce) {
  // Without trainable encoder LoRA or pooling, the pooled vectors of a context
  // are remembered: the second encode is a cache hit with identical soft
  // tokens, and gradients still reach the adapter.
  torch::manual_seed(0);
  E2llmConfig config = test::tiny_e2llm_config(models);
  config.encoder_lora_rank = 0;
  config.pooling = {PoolingMode::kMean, 1, 4, false};
  E2llmModel model(config);
  ChunkedContext a = model.chunk_context(examples[0].context), b = model.chunk_context(examples[1].context);
  torch::Tensor first = model.encode_chunks(a);
  EXPECT_EQ(model.pooled_cache_hits(), 0);
  torch::Tensor other = model.encode_chunks(b);
  EXPECT_EQ(model.pooled_cache_hits(), 0);
  torch::Tensor again = model.encode_chunks(a);
  EXPECT_EQ(model.pooled_cache_hits(), 1);
  EXPECT_TRUE(torch::equal(first, again));
  EXPECT_FALSE(torch::equal(first.slice(0, 0, 1), other.slice(0, 0, 1)));
  again.sum().backward();
  for (auto& [name, t] : model.named_trainable()) {
    if (name.rfind("adapter.fc", 0) == 0) {
      EXPECT_TRUE(t.grad().defined()) << name;
    }
  }
  // Loading state may change what the encoder side computes: the cache starts afresh.
  std::map<std::string, torch::Tensor> state;
  for (auto& [name, t] : model.named_state()) state[name] = t.detach().clone();
  model.load_state(state);
  model.encode_chunks(a);
  EXPECT_EQ(model.pooled_cache_hits(), 1);
}

// Inference (freeze(), as load_e2llm does): a document is encoded and
// prefilled once; later questions about it continue that decoder state and
// answer exactly as a model that remembers nothing does.
TEST_F(Fixture, AFrozenModelReadsEachDocumentOnceAndAnswersAsBefore) {
  E2llmConfig config = test::tiny_e2llm_config(models);
  torch::manual_seed(0);
  E2llmModel remembering(config);
  torch::manual_seed(0);
  E2llmModel forgetful(config);
  EXPECT_FALSE(remembering.frozen());
  remembering.freeze();
  EXPECT_TRUE(remembering.frozen());
  EXPECT_TRUE(remembering.named_trainable().empty());
  AnswerOptions options(6);
  options.ignore_eos = true;
  const std::vector<std::pair<size_t, std::string>> asked = {
      {0, examples[0].prompt}, {0, examples[1].prompt}, {1, examples[1].prompt}, {0, examples[0].prompt}};
  std::vector<AnswerTiming> timings;
  for (const auto& [doc, prompt] : asked) {
    AnswerTiming t;
    const std::string answer = remembering.generate(examples[doc].context, prompt, options, &t);
    EXPECT_EQ(answer, forgetful.generate(examples[doc].context, prompt, options)) << "document " << doc;
    timings.push_back(t);
  }
  EXPECT_EQ(remembering.pooled_cache_hits(), 2);  // the 2nd and 4th questions
  EXPECT_EQ(forgetful.pooled_cache_hits(), 0);     // trainable: nothing remembered
  EXPECT_GT(timings[0].encode_s, 0);
  EXPECT_EQ(timings[1].encode_s, 0);
  EXPECT_EQ(timings[1].soft_tokens, timings[0].soft_tokens);
  EXPECT_GT(timings[2].encode_s, 0);
  // Loading state forgets what was read.
  std::map<std::string, torch::Tensor> state;
  for (auto& [name, t] : remembering.named_state()) state[name] = t.detach().clone();
  remembering.load_state(state);
  AnswerTiming after;
  remembering.generate(examples[0].context, examples[0].prompt, options, &after);
  EXPECT_GT(after.encode_s, 0);
}

TEST_F(Fixture, TrainableEncoderLoraIsNeverCached) {
  torch::manual_seed(0);
  E2llmModel model(test::tiny_e2llm_config(models));  // encoder LoRA rank 4, trained
  ChunkedContext a = model.chunk_context(examples[0].context);
  model.encode_chunks(a);
  torch::Tensor again = model.encode_chunks(a);
  EXPECT_EQ(model.pooled_cache_hits(), 0);
  EXPECT_TRUE(again.requires_grad());
}
