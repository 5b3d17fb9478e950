// The core proof that E2LLM works: on a synthetic long-document key -> value
// task (documents >= 20x the decoder's context window, facts scattered over
// the chunks), a tiny random encoder + decoder trained through the adapter
// and LoRA answers held-out documents almost always, while the same decoder
// reading the document truncated to its window is near chance.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "e2llm/e2llm/e2llm_model.h"
#include "e2llm/io/fs.h"
#include "e2llm/tokenizer/tokenizer.h"
#include "e2llm/train/e2llm_task.h"
#include "e2llm/data/synthetic.h"
#include "test_e2llm_models.h"
#include "test_util.h"

using namespace e2llm;

namespace {

// Greedy answer of the bare decoder reading `ids` (the truncated document and the question).
std::string decoder_only_answer(E2llmModel& model, const std::vector<int64_t>& ids) {
  torch::NoGradGuard no_grad;
  CausalLMImpl& lm = model.decoder();
  KvCache cache = lm.new_cache(1, static_cast<int64_t>(ids.size()) + 4);
  torch::Tensor logits = lm.prefill({Segment::tokens(ids)}, cache);
  std::vector<int64_t> out;
  for (int i = 0; i < 3; ++i) {
    int64_t next = logits.argmax(-1).item<int64_t>();
    if (next == lm.eos_token_ids().front()) break;
    out.push_back(next);
    logits = lm.forward_step(torch::tensor({next}, torch::kInt64), cache);
  }
  return model.decoder_tokenizer().decode(out, true);
}

double truncated_baseline(E2llmModel& model, const std::vector<Example>& examples, int64_t window) {
  int hits = 0;
  for (const Example& e : examples) {
    std::vector<int64_t> question = model.decoder_tokenizer().encode(e.prompt, false).ids;
    std::vector<int64_t> ids = model.decoder_tokenizer().encode(e.context, false).ids;
    ids.resize(window - static_cast<int64_t>(question.size()) - 3);  // room for the answer
    ids.insert(ids.end(), question.begin(), question.end());
    hits += answers_match(decoder_only_answer(model, ids), e.answers[0]);
  }
  return static_cast<double>(hits) / static_cast<double>(examples.size());
}

}  // namespace

// What it takes (found by bisecting a run that sat at chance, see git log):
//  - the pooled vectors are standardized before the adapter (calibrate()):
//    a random encoder's mean-pooled chunks differ by ~5% of their common
//    component, and Adam on the raw vectors never found the difference;
//  - 8 examples per optimizer step and lr 1e-3: batch 1 or lr 3e-3 stays on
//    the plateau (the decoder learns "one of the values present", 25%);
//  - the question ends with the key (one attention hop from the answer
//    position to the soft token of the chunk that holds it);
//  - a one-word filler: a random encoder has no notion of salience, so with
//    16 filler words the fact is 1 token of 42 drowned in filler variance (a
//    linear probe on the pooled vector reads the value only 80% of the time).
//    A pretrained encoder is what removes this limit; the document is still
//    >= 20x the decoder window and the facts are still spread over chunks;
//  - no encoder LoRA: trained at the same rate, it moves the random encoder's
//    pooled vectors far more than their natural spread and the run never
//    leaves chance.
// Measured: 0.983 after 1500 steps (75 s on 2 busy cores); with the 2000
// run here, E2LLM 1.000 vs truncated 0.067 (chance 0.0625), 97 s. Again with
// the data from data/synthetic.h's make_kv (same task, another generator):
// E2LLM 1.000 vs truncated 0.050.
TEST(E2llmLearning, RetrievesFactsFromDocumentsFarLongerThanTheDecoderWindow) {
  e2llm::test::TempDir dir;
  // 16 keys, 16 values, 4 facts at least 7 sentences of 8 words apart.
  KvOptions task{.facts = 4, .words = 520, .seed = 1, .vocabulary = KvVocabulary::closed, .min_fact_gap = 7,
                 .filler_words = 1};
  const int64_t window = 24;
  test::TinyModels models = test::write_tiny_models(dir.path(), kv_vocabulary(task), window);

  std::vector<Example> train = kv_dataset(task, 4000);
  KvOptions held_out_task = task;
  held_out_task.seed = 2;
  std::vector<Example> held_out = kv_dataset(held_out_task, 60);

  E2llmConfig config;
  config.encoder_path = models.encoder;
  config.decoder_path = models.decoder;
  config.chunker.chunk_size = 40;
  config.pooling = {PoolingMode::kMean, 1, 4, false};
  config.encoder_lora_rank = 0;
  config.decoder_lora_rank = 16;
  config.lora_alpha = 32;
  config.alpha = 0.0;  // the reasoning task alone is enough here and keeps CI fast
  torch::manual_seed(0);
  E2llmModel model(config);

  // The document is >= 20x the window; what the decoder reads fits in it.
  ChunkedContext chunked = model.chunk_context(held_out[0].context);
  ASSERT_GE(chunked.context_tokens, 20 * window);
  ASSERT_GE(chunked.chunks.size(), 10u);
  int64_t positions = 0;
  for (const Segment& s : model.assemble(model.encode_chunks(chunked), held_out[0].prompt, model.answer_ids("v1")))
    positions += s.size();
  ASSERT_LE(positions, window);

  TrainOptions options;
  options.max_steps = 2000;
  options.lr = 1e-3;
  options.grad_accum = 8;
  options.warmup_steps = 50;
  options.min_lr_ratio = 0.1;
  options.weight_decay = 0.0;
  options.progress = false;
  E2llmTrainTask train_task(model, train);
  Trainer(train_task, options).run();

  const double e2llm_em = evaluate_exact_match(model, held_out, 3).exact_match;
  const double baseline_em = truncated_baseline(model, held_out, window);
  std::printf("E2LLM exact match %.3f, truncated decoder %.3f (chance %.3f)\n", e2llm_em, baseline_em,
              1.0 / static_cast<double>(task.values));
  EXPECT_GE(e2llm_em, 0.9);
  EXPECT_LE(baseline_em, 0.2);
}
