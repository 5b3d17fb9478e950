#include <torch/torch.h>

#include "e2llm/core/error.h"
#include "e2llm/nn/lora.h"
#include "e2llm/io/safetensors.h"
#include "nn/lora_side_path.h"
#include "test_util.h"

using namespace e2llm;
using e2llm::test::TempDir;

namespace {

// A two-level module tree with HF-like names: block.q_proj, block.v_proj, head.
struct BlockImpl : torch::nn::Module {
  BlockImpl() {
    q_proj = register_module("q_proj", nn::Linear(torch::randn({6, 4}), torch::randn({6})));
    v_proj = register_module("v_proj", nn::Linear(torch::randn({4, 6})));
  }
  torch::Tensor forward(torch::Tensor x) { return v_proj->forward(torch::relu(q_proj->forward(x))); }
  nn::Linear q_proj{nullptr}, v_proj{nullptr};
};
TORCH_MODULE(Block);

struct TinyImpl : torch::nn::Module {
  TinyImpl() {
    block = register_module("block", Block());
    head = register_module("head", nn::Linear(torch::randn({3, 4})));
  }
  torch::Tensor forward(torch::Tensor x) { return head->forward(block->forward(x)); }
  Block block{nullptr};
  nn::Linear head{nullptr};
};
TORCH_MODULE(Tiny);

void randomise_adapters(torch::nn::Module& m) {
  torch::NoGradGuard g;
  for (auto& [name, lin] : nn::named_linears(m))
    if (lin->has_lora()) lin->lora_B->weight.normal_();
}

}  // namespace

TEST(Lora, TargetsMatchLikePeftAndBaseStaysFrozen) {
  torch::manual_seed(1);
  Tiny model;
  nn::LoraConfig cfg;
  cfg.rank = 2;
  cfg.target_modules = {"q_proj", "v_proj"};
  auto wrapped = nn::apply_lora(*model, cfg);
  EXPECT_EQ(wrapped, (std::vector<std::string>{"block.q_proj", "block.v_proj"}));
  EXPECT_FALSE(model->head->has_lora());
  auto trainable = nn::trainable_parameters(*model);
  EXPECT_EQ(trainable.size(), 4u);  // A and B of two layers
  EXPECT_FALSE(model->block->q_proj->weight.requires_grad());
}

TEST(Lora, FreshAdapterIsIdentityAndGradientsReachOnlyAdapters) {
  torch::manual_seed(2);
  Tiny model;
  auto x = torch::randn({5, 4});
  auto before = model->forward(x);
  nn::LoraConfig cfg;
  cfg.rank = 3;
  nn::apply_lora(*model, cfg);
  EXPECT_TRUE(torch::allclose(model->forward(x), before));
  model->forward(x).sum().backward();
  EXPECT_TRUE(model->head->lora_B->weight.grad().defined());
  EXPECT_GT(model->head->lora_B->weight.grad().abs().sum().item<float>(), 0.0f);
  EXPECT_FALSE(model->head->weight.grad().defined());
}

TEST(Lora, MergedEqualsUnmergedAndUnmergeRestoresBase) {
  torch::manual_seed(3);
  Tiny model;
  auto base = model->block->q_proj->weight.clone();
  nn::LoraConfig cfg;
  cfg.rank = 2;
  cfg.alpha = 5;
  nn::apply_lora(*model, cfg);
  randomise_adapters(*model);
  auto x = torch::randn({7, 4});
  torch::NoGradGuard g;
  auto unmerged = model->forward(x);
  nn::merge_lora(*model);
  EXPECT_TRUE(model->block->q_proj->merged());
  EXPECT_FALSE(torch::allclose(model->block->q_proj->weight, base));
  EXPECT_TRUE(torch::allclose(model->forward(x), unmerged, 1e-5, 1e-5));
  nn::unmerge_lora(*model);
  EXPECT_TRUE(torch::allclose(model->block->q_proj->weight, base, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(model->forward(x), unmerged, 1e-5, 1e-5));
}

// The decoding side path on raw memory against y + scaling·(x·Aᵀ)·Bᵀ in
// double, for each kernel this CPU has, with widths and ranks that are and are
// not multiples of eight (the AVX2 path's masked tails and leftover outputs).
TEST(Lora, DecodingSidePathEqualsMatrixProducts) {
  torch::manual_seed(11);
  std::vector<nn::detail::SidePathKernel> kernels = {nn::detail::SidePathKernel::kPortable};
  if (nn::detail::best_side_path_kernel() == nn::detail::SidePathKernel::kAvx2)
    kernels.push_back(nn::detail::SidePathKernel::kAvx2);
  struct Shape {
    int64_t rows, in, rank, out;
  };
  for (auto kernel : kernels)
    for (Shape s : {Shape{1, 576, 8, 1536}, Shape{1, 37, 3, 13}, Shape{3, 40, 13, 21}, Shape{2, 7, 16, 8}}) {
      SCOPED_TRACE(testing::Message() << "kernel " << static_cast<int>(kernel) << ", rows " << s.rows << ", in "
                                      << s.in << ", rank " << s.rank << ", out " << s.out);
      auto x = torch::randn({s.rows, s.in}), a = torch::randn({s.rank, s.in}), b = torch::randn({s.out, s.rank});
      auto y = torch::randn({s.rows, s.out});
      const float scaling = 0.75f;
      auto expected = y.to(torch::kFloat64) + scaling * x.to(torch::kFloat64).mm(a.to(torch::kFloat64).t()).mm(
                                                              b.to(torch::kFloat64).t());
      nn::detail::add_lora_side_path(x.data_ptr<float>(), s.rows, s.in, a.data_ptr<float>(), s.rank,
                                     b.data_ptr<float>(), s.out, scaling, y.data_ptr<float>(), kernel);
      EXPECT_TRUE(torch::allclose(y.to(torch::kFloat64), expected, 1e-4, 1e-3))
          << "largest difference " << (y.to(torch::kFloat64) - expected).abs().max().item<double>();
    }
}

// A layer decoding one row (the side path) gives what the same row gives in a
// batch of rows beyond the side path's reach (the matrix products); training
// keeps the products, so the adapter still receives its gradient.
TEST(Lora, OneRowAtInferenceEqualsTheBatchedForm) {
  torch::manual_seed(12);
  nn::Linear layer(torch::randn({21, 40}), torch::randn({21}));
  nn::LoraConfig cfg;
  cfg.rank = 5;
  layer->attach_lora(cfg);
  {
    torch::NoGradGuard g;
    layer->lora_B->weight.normal_();
  }
  auto x = torch::randn({nn::detail::kSidePathMaxRows + 1, 40});
  torch::Tensor batched, one;
  {
    torch::NoGradGuard g;
    batched = layer->forward(x);
    one = layer->forward(x.narrow(0, 0, 1));
    EXPECT_FALSE(torch::allclose(one, torch::nn::functional::linear(x.narrow(0, 0, 1), layer->weight, layer->bias),
                                 1e-3, 1e-3));  // the adapter counts
  }
  EXPECT_TRUE(torch::allclose(one, batched.narrow(0, 0, 1), 1e-4, 1e-4));
  layer->forward(x.narrow(0, 0, 1)).sum().backward();
  ASSERT_TRUE(layer->lora_B->weight.grad().defined());
  EXPECT_GT(layer->lora_B->weight.grad().abs().sum().item<float>(), 0.0f);
}

TEST(Lora, ScalingFollowsAlphaOverRankOrRsLora) {
  nn::LoraConfig c;
  c.rank = 4;
  c.alpha = 8;
  EXPECT_DOUBLE_EQ(c.scaling(), 2.0);
  c.use_rslora = true;
  EXPECT_DOUBLE_EQ(c.scaling(), 4.0);
}

TEST(Lora, PeftLayoutRoundTrip) {
  TempDir dir;
  torch::manual_seed(4);
  Tiny a;
  nn::LoraConfig cfg;
  cfg.rank = 2;
  cfg.alpha = 4;
  cfg.target_modules = {"q_proj", "head"};
  nn::apply_lora(*a, cfg);
  randomise_adapters(*a);
  nn::save_peft_adapter(*a, cfg, dir.path(), "tiny");
  auto st = SafeTensorsFile::open(dir.file("adapter_model.safetensors"));
  EXPECT_TRUE(st->has("base_model.model.block.q_proj.lora_A.weight"));
  EXPECT_TRUE(st->has("base_model.model.head.lora_B.weight"));
  EXPECT_EQ(st->names().size(), 4u);

  // Same base weights, fresh module: loading must reproduce the outputs.
  Tiny b;
  {
    torch::NoGradGuard g;
    auto pa = a->named_parameters(), pb = b->named_parameters();
    for (auto& item : pb)
      if (pa.contains(item.key())) item.value().copy_(pa[item.key()]);
  }
  auto loaded = nn::load_peft_adapter(*b, dir.path());
  EXPECT_EQ(loaded.rank, 2);
  EXPECT_DOUBLE_EQ(loaded.alpha, 4);
  auto x = torch::randn({3, 4});
  torch::NoGradGuard g;
  EXPECT_TRUE(torch::allclose(a->forward(x), b->forward(x)));
}

TEST(Lora, LoadRejectsForeignAdapters) {
  TempDir dir;
  torch::manual_seed(5);
  Tiny a;
  nn::LoraConfig cfg;
  cfg.rank = 2;
  cfg.target_modules = {"q_proj"};
  nn::apply_lora(*a, cfg);
  nn::save_peft_adapter(*a, cfg, dir.path());
  // Rewrite the weights with a wrong shape: the message must name the tensor.
  save_safetensors(dir.file("adapter_model.safetensors"),
                   {{"base_model.model.block.q_proj.lora_A.weight", torch::zeros({3, 4})},
                    {"base_model.model.block.q_proj.lora_B.weight", torch::zeros({6, 2})}});
  Tiny b;
  try {
    nn::load_peft_adapter(*b, dir.path());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lora_A.weight"), std::string::npos) << e.what();
  }
  nn::LoraConfig none;
  none.target_modules = {"nothing_like_this"};
  Tiny c;
  EXPECT_THROW(nn::apply_lora(*c, none), Error);
}

TEST(Linear, Bf16LayerGivesBf16OutputWithinRoundingOfFloat32AndTrains) {
  // bf16 layers are computed natively or in float32 (bf16_matmul_native());
  // either way the output is bf16, equal to the float32 product up to bf16
  // rounding, and gradients reach a LoRA adapter on top.
  torch::manual_seed(0);
  const torch::Tensor w = torch::randn({48, 64}), b = torch::randn({48}), x = torch::randn({5, 64});
  nn::Linear exact(w, b);
  nn::Linear half(w.to(torch::kBFloat16), b.to(torch::kBFloat16));
  const torch::Tensor y = half->forward(x.to(torch::kBFloat16));
  EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
  const torch::Tensor reference = exact->forward(x);
  EXPECT_LT(((y.to(torch::kFloat32) - reference).abs().max() / reference.abs().max()).item<float>(), 2e-2);

  nn::LoraConfig config;
  config.rank = 2;
  half->attach_lora(config);
  half->forward(x.to(torch::kBFloat16)).to(torch::kFloat32).sum().backward();
  EXPECT_TRUE(half->lora_B->weight.grad().defined());
}
