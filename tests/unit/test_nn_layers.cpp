// The layers encoder and decoder share (e2llm/nn): weight loading into module
// trees, RMSNorm and the RoPE rotation; and the encoder's configured length limit.
#include <gmock/gmock.h>

#include <functional>
#include <map>

#include "e2llm/core/error.h"
#include "e2llm/encoder/encoder.h"
#include "e2llm/nn/norm.h"
#include "e2llm/nn/rope.h"
#include "e2llm/nn/weight_loader.h"
#include "test_util.h"

using namespace e2llm;

namespace {

class MapWeights : public Weights {
 public:
  explicit MapWeights(std::map<std::string, torch::Tensor> tensors) : tensors_(std::move(tensors)) {}
  bool has(const std::string& name) const override { return tensors_.count(name) > 0; }
  torch::Tensor get(const std::string& name) const override {
    E2LLM_CHECK(has(name), "no tensor '{}'", name);
    return tensors_.at(name);
  }
  using Weights::get;
  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const auto& [name, _] : tensors_) out.push_back(name);
    return out;
  }
  TensorMeta meta(const std::string& name) const override { return {name, "F32", get(name).sizes().vec()}; }

 private:
  std::map<std::string, torch::Tensor> tensors_;
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(NnWeightLoader, LoadsIntoDottedPathsInTheModelDtypeWithoutCopying) {
  torch::Tensor w = torch::randn({3, 2}), b = torch::randn({3});
  MapWeights weights({{"model.layers.0.proj.weight", w}, {"model.layers.0.proj.bias", b},
                      {"model.norm.weight", torch::ones({2})}});
  nn::WeightLoader loader(weights, torch::kFloat32, torch::kCPU, "model.");
  torch::nn::Module root;
  nn::Linear proj = nn::linear_at(root, loader, "layers.0.proj", 2, 3);
  EXPECT_EQ(proj->weight.data_ptr(), w.data_ptr());  // same dtype and device: no copy
  torch::Tensor norm = nn::frozen_at(root, loader, "norm.weight", {2});
  std::vector<std::string> names;
  for (const auto& p : root.named_parameters()) {
    names.push_back(p.key());
    EXPECT_FALSE(p.value().requires_grad()) << p.key();
  }
  EXPECT_THAT(names, ::testing::UnorderedElementsAre("layers.0.proj.weight", "layers.0.proj.bias", "norm.weight"));
  // The same tensors through sub-loaders, converted to bf16.
  nn::WeightLoader layer = nn::WeightLoader(weights, torch::kBFloat16, torch::kCPU, "model.").sub("layers").sub("0");
  EXPECT_EQ(layer.prefix(), "model.layers.0.");
  nn::Linear no_bias = layer.linear("proj", 2, 3, /*bias=*/false);
  EXPECT_EQ(no_bias->weight.scalar_type(), torch::kBFloat16);
  EXPECT_FALSE(no_bias->bias.defined());
  // Errors name the full key.
  EXPECT_THAT(error_of([&] { loader.get("layers.0.proj.weight", {2, 3}); }),
              ::testing::HasSubstr("'model.layers.0.proj.weight' has shape 3x2"));
  EXPECT_THAT(error_of([&] { layer.get("gate.weight", {3}); }),
              ::testing::HasSubstr("'model.layers.0.gate.weight'"));
}

TEST(NnRmsNorm, LlamaAndGemmaScalings) {
  torch::Tensor x = torch::randn({2, 5, 8}), w = torch::randn({8});
  torch::Tensor normed = x / (x.pow(2).mean(-1, true) + 1e-6).sqrt();
  EXPECT_TRUE(torch::allclose(nn::rms_norm(x, w, 1e-6), normed * w, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(nn::rms_norm(x, w, 1e-6, /*unit_offset=*/true), normed * (1 + w), 1e-5, 1e-6));
  nn::RmsNorm module(w.to(torch::kBFloat16), 1e-6);
  torch::Tensor y = module->forward(x.to(torch::kBFloat16));
  EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
  EXPECT_LE((y.to(torch::kFloat32) - normed * w).abs().max().item<double>(), 0.05 * w.abs().max().item<double>());
  EXPECT_FALSE(module->weight.requires_grad());
}

// Inference on float32 takes a fused one-pass path; with a gradient to
// record, the ATen operations. Both must give the same numbers.
TEST(NnRmsNorm, FusedInferencePathEqualsTheAtenOperations) {
  torch::Tensor x = torch::randn({3, 4, 64}) * 3, w = torch::randn({64});
  for (bool unit_offset : {false, true}) {
    const torch::Tensor fused = nn::rms_norm(x, w, 1e-6, unit_offset);
    const torch::Tensor reference = nn::rms_norm(x.clone().requires_grad_(true), w, 1e-6, unit_offset);
    ASSERT_TRUE(reference.requires_grad());
    EXPECT_FALSE(fused.requires_grad());
    EXPECT_TRUE(torch::allclose(fused, reference.detach(), 1e-6, 1e-6)) << "unit_offset " << unit_offset;
  }
  // A strided input (a transposed view) reads the right elements.
  const torch::Tensor t = x.transpose(0, 1);
  EXPECT_TRUE(torch::allclose(nn::rms_norm(t, w, 1e-6), nn::rms_norm(x, w, 1e-6).transpose(0, 1), 1e-6, 1e-6));
}

TEST(NnRope, FusedInferencePathEqualsTheAtenOperations) {
  // The decoder's layout: x a transposed view [B, H, T, d], cos/sin [B, 1, T, d].
  const int64_t B = 2, H = 3, T = 5, d = 8;
  const torch::Tensor x = torch::randn({B, T, H, d}).transpose(1, 2);
  auto [cos, sin] = nn::rope_cos_sin(nn::rope_inverse_frequencies(10000.0, d),
                                     torch::arange(B * T).view({B, T}), torch::kFloat32);
  cos = cos.unsqueeze(1), sin = sin.unsqueeze(1);
  const torch::Tensor fused = nn::apply_rope(x, cos, sin);
  const torch::Tensor reference = nn::apply_rope(x.clone().requires_grad_(true), cos, sin);
  ASSERT_TRUE(reference.requires_grad());
  EXPECT_TRUE(torch::equal(fused, reference.detach()));
  // cos/sin with fewer dimensions than x broadcast from the right, as expand() would.
  const torch::Tensor cos_t = cos.select(0, 0).squeeze(0), sin_t = sin.select(0, 0).squeeze(0);  // [T, d]
  const torch::Tensor reference_t = nn::apply_rope(x.clone().requires_grad_(true), cos_t, sin_t);
  EXPECT_TRUE(torch::equal(nn::apply_rope(x, cos_t, sin_t), reference_t.detach()));
}

TEST(NnRope, RotationKeepsNormsAndScoresDependOnlyOnTheOffset) {
  const int64_t d = 16;
  torch::Tensor inv_freq = nn::rope_inverse_frequencies(10000.0, d);
  ASSERT_EQ(inv_freq.sizes(), (std::vector<int64_t>{d / 2}));
  EXPECT_FLOAT_EQ(inv_freq[0].item<float>(), 1.0f);
  torch::Tensor q = torch::randn({d}), k = torch::randn({d});
  auto rotate = [&](const torch::Tensor& x, int64_t position) {
    auto [cos, sin] = nn::rope_cos_sin(inv_freq, torch::tensor({position}), torch::kFloat32);
    EXPECT_EQ(cos.sizes(), (std::vector<int64_t>{1, d}));
    return nn::apply_rope(x, cos[0], sin[0]);
  };
  EXPECT_NEAR(rotate(q, 7).norm().item<double>(), q.norm().item<double>(), 1e-4);
  EXPECT_TRUE(torch::allclose(rotate(q, 0), q));
  const double a = rotate(q, 3).dot(rotate(k, 1)).item<double>();
  const double b = rotate(q, 12).dot(rotate(k, 10)).item<double>();
  EXPECT_NEAR(a, b, 1e-4);
  // YaRN's attention scaling multiplies cos and sin.
  auto [cos, sin] = nn::rope_cos_sin(inv_freq, torch::arange(4), torch::kFloat32, 2.0);
  EXPECT_TRUE(torch::allclose(cos.pow(2) + sin.pow(2), torch::full({4, d}, 4.0)));
}

TEST(EncoderMaxTokens, EveryFamilyHasItsConfiguredLimit) {
  for (const char* family : {"bert", "gte"}) {
    auto encoder = TextEncoder::load(test::golden_dir() + "/encoder/" + family);
    EXPECT_EQ(encoder.max_tokens(), encoder.config().max_position_embeddings) << family;
    const int64_t n = encoder.max_tokens();
    torch::NoGradGuard no_grad;
    EXPECT_NO_THROW(encoder.forward(torch::full({1, n}, 5, torch::kLong), torch::ones({1, n}, torch::kLong)));
    EXPECT_THROW(encoder.forward(torch::full({1, n + 1}, 5, torch::kLong), torch::ones({1, n + 1}, torch::kLong)),
                 Error)
        << family;
  }
  auto xlmr = TextEncoder::load(test::golden_dir() + "/encoder/xlm-roberta");
  EXPECT_EQ(xlmr.max_tokens(), xlmr.config().max_position_embeddings - xlmr.config().pad_token_id - 1);
}

}  // namespace
