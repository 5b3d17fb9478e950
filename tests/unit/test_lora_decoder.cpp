// LoRA (src/nn/lora.cpp) on real decoder modules: PEFT's adapters load and
// give PEFT's logits, merged == unmerged, our adapters round-trip.
#include <torch/torch.h>

#include <filesystem>

#include "e2llm/decoder/decoder.h"
#include "e2llm/core/error.h"
#include "e2llm/nn/lora.h"
#include "e2llm/io/safetensors.h"
#include "test_util.h"

using namespace e2llm;
using e2llm::test::TempDir;

namespace {

std::string llama_dir() { return e2llm::test::golden_dir() + "/decoder/llama"; }

CausalLM tiny_llama() { return load_causal_lm(llama_dir()); }

const std::vector<std::string> kAllProjections = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                  "gate_proj", "up_proj", "down_proj"};

double max_diff_valid(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& mask) {
  return ((a - b).abs() * mask.to(torch::kBool).unsqueeze(-1)).max().item<double>();
}

}  // namespace

TEST(LoraDecoder, ModuleNamesAreHuggingFaces) {
  CausalLM lm = tiny_llama();
  auto wrapped = nn::apply_lora(*lm, {.rank = 2, .target_modules = kAllProjections});
  EXPECT_EQ(wrapped.size(), 14u);  // 7 per layer, 2 layers
  EXPECT_EQ(wrapped.front(), "model.layers.0.self_attn.q_proj");
  auto state = nn::lora_state(*lm);
  EXPECT_TRUE(state.count("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight"));
  // Base weights stay frozen; only adapters train.
  EXPECT_EQ(nn::trainable_parameters(*lm).size(), 28u);
}

TEST(LoraDecoder, PeftAdapterGivesPeftLogits) {
  auto ref = SafeTensorsFile::open(llama_dir() + "/logits_peft.safetensors");
  auto base = SafeTensorsFile::open(llama_dir() + "/logits_default.safetensors");
  CausalLM lm = tiny_llama();
  nn::LoraConfig cfg = nn::load_peft_adapter(*lm, llama_dir() + "/peft_adapter");
  EXPECT_EQ(cfg.rank, 4);
  torch::NoGradGuard no_grad;
  torch::Tensor ids = ref->get("input_ids"), mask = ref->get("attention_mask"), pos = ref->get("position_ids");
  torch::Tensor logits = lm->forward_ids(ids, mask, pos);
  EXPECT_LE(max_diff_valid(logits, ref->get("logits"), mask), 1e-4);
  EXPECT_GT(max_diff_valid(logits, base->get("logits"), mask), 1e-2);  // the adapter matters

  nn::merge_lora(*lm);
  torch::Tensor merged = lm->forward_ids(ids, mask, pos);
  EXPECT_LE(max_diff_valid(merged, logits, mask), 1e-4);
  nn::unmerge_lora(*lm);
  EXPECT_LE(max_diff_valid(lm->forward_ids(ids, mask, pos), logits, mask), 1e-4);
  // Cached decoding sees the adapter too.
  KvCache cache = lm->new_cache(2, 32);
  lm->forward_ids(ids.narrow(1, 0, 20), mask.narrow(1, 0, 20), {}, &cache);
  torch::Tensor step = lm->forward_step(ids.select(1, 20), cache);
  EXPECT_LE((step - logits.select(1, 20)).abs().max().item<double>(), 1e-4);
}

TEST(LoraDecoder, SavedAdapterReloadsToTheSameLogits) {
  const char* keep = std::getenv("E2LLM_KEEP_LORA_ADAPTER");  // for the PEFT-side check in the golden script
  TempDir dir;
  std::string out = keep ? keep : dir.path();
  CausalLM lm = tiny_llama();
  nn::LoraConfig cfg{.rank = 3, .alpha = 6, .target_modules = kAllProjections};
  nn::apply_lora(*lm, cfg);
  torch::manual_seed(2);
  for (auto& p : nn::trainable_parameters(*lm)) p.data().normal_(0, 0.1);
  torch::NoGradGuard no_grad;
  torch::Tensor ids = torch::randint(2, 128, {1, 12}, torch::kInt64);
  torch::Tensor logits = lm->forward_ids(ids);
  nn::save_peft_adapter(*lm, cfg, out + "/adapter");
  if (keep) {
    std::filesystem::create_directories(out + "/model");
    for (const char* f : {"config.json", "model.safetensors"})
      std::filesystem::copy_file(llama_dir() + "/" + f, out + "/model/" + f,
                                 std::filesystem::copy_options::overwrite_existing);
    save_safetensors(out + "/logits.safetensors", {{"input_ids", ids}, {"logits", logits}});
  }
  CausalLM again = tiny_llama();
  nn::load_peft_adapter(*again, out + "/adapter");
  EXPECT_LE((again->forward_ids(ids) - logits).abs().max().item<double>(), 1e-6);
}

TEST(LoraDecoder, TrainingMovesOnlyAdaptersAndLowersTheLoss) {
  CausalLM lm = tiny_llama();
  nn::apply_lora(*lm, {.rank = 4, .alpha = 8, .target_modules = {"q_proj", "v_proj"}});
  torch::Tensor base_before = lm->named_parameters()["model.layers.0.self_attn.q_proj.weight"].clone();
  auto params = nn::trainable_parameters(*lm);
  torch::optim::Adam opt(params, torch::optim::AdamOptions(1e-2));
  lm->train();
  torch::manual_seed(0);
  torch::Tensor soft = torch::randn({2, lm->hidden_size()});
  auto loss_now = [&] {
    AssembledBatch a = lm->assemble({{Segment::soft(soft), Segment::tokens({10, 20, 30, 40}, true)}});
    return causal_lm_loss(lm->forward_segments(a), a.labels);
  };
  double first = loss_now().item<double>();
  for (int i = 0; i < 20; ++i) {
    opt.zero_grad();
    loss_now().backward();
    opt.step();
  }
  EXPECT_LT(loss_now().item<double>(), first * 0.8);
  EXPECT_TRUE(torch::equal(lm->named_parameters()["model.layers.0.self_attn.q_proj.weight"], base_before));
}
