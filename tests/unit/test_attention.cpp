// The fused CPU encoder attention (portable and AVX2) against the ATen-ops
// reference: padding masks, head sizes, lengths that are not multiples of the
// kernel's blocks, bf16 inputs, and the autograd path.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>

#include "e2llm/encoder/attention.h"
#include "e2llm/core/error.h"

namespace e2llm::nn {
namespace {

// Restores the process-wide kernel choice after each test.
class KernelGuard {
 public:
  KernelGuard() : saved_(attention_kernel()) {}
  ~KernelGuard() { set_attention_kernel(saved_); }

 private:
  AttentionKernel saved_;
};

torch::Tensor attention_with(AttentionKernel kernel, const torch::Tensor& q, const torch::Tensor& k,
                             const torch::Tensor& v, const torch::Tensor& bias, double scale) {
  set_attention_kernel(kernel);
  return encoder_attention(q, k, v, bias, scale);
}

// [B, T] bias: row b masks `masked[b]` keys at the end (right padding), the last row at the start.
torch::Tensor padding_bias(int64_t batch, int64_t length) {
  torch::Tensor bias = torch::zeros({batch, length});
  const float lowest = std::numeric_limits<float>::lowest();
  for (int64_t b = 1; b < batch; ++b) bias[b].slice(0, length - (b * length) / (batch + 1)).fill_(lowest);
  if (batch > 2) bias[batch - 1].slice(0, 0, length / 3).fill_(lowest);
  return bias;
}

struct Qkv {
  torch::Tensor q, k, v;
};

// Random q, k, v of one [B, T, heads, d] shape, drawn in that order.
Qkv random_qkv(int64_t batch, int64_t length, int64_t heads, int64_t head_dim) {
  torch::Tensor q = torch::randn({batch, length, heads, head_dim});
  torch::Tensor k = torch::randn({batch, length, heads, head_dim});
  return {q, k, torch::randn({batch, length, heads, head_dim})};
}

struct Shape {
  int64_t batch, length, heads, head_dim;
};

class FusedAttention : public ::testing::TestWithParam<Shape> {};

TEST_P(FusedAttention, EqualsTheReferenceWithPaddingMasks) {
  KernelGuard guard;
  torch::InferenceMode inference;
  const Shape s = GetParam();
  torch::manual_seed(s.length * 31 + s.head_dim);
  const auto [q, k, v] = random_qkv(s.batch, s.length, s.heads, s.head_dim);
  const torch::Tensor bias = padding_bias(s.batch, s.length);
  const double scale = 1.0 / std::sqrt(static_cast<double>(s.head_dim));
  const torch::Tensor reference = attention_with(AttentionKernel::kReference, q, k, v, bias, scale);
  ASSERT_EQ(reference.sizes(), (std::vector<int64_t>{s.batch, s.length, s.heads * s.head_dim}));
  for (AttentionKernel kernel : {AttentionKernel::kPortable, AttentionKernel::kAvx2}) {
    const torch::Tensor fused = attention_with(kernel, q, k, v, bias, scale);
    ASSERT_EQ(fused.sizes(), reference.sizes());
    EXPECT_LT((fused - reference).abs().max().item<float>(), 1e-5) << "kernel " << static_cast<int>(kernel);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, FusedAttention,
                         ::testing::Values(Shape{1, 1, 1, 8}, Shape{2, 5, 3, 16}, Shape{3, 37, 4, 32},
                                           Shape{3, 37, 2, 40}, Shape{2, 130, 2, 64}, Shape{2, 19, 2, 24},
                                           Shape{2, 17, 3, 6}, Shape{4, 64, 12, 32}));

TEST(FusedAttention, MaskedKeysChangeNothing) {
  // A chunk padded with masked keys gives exactly its unpadded rows' output.
  KernelGuard guard;
  torch::InferenceMode inference;
  torch::manual_seed(7);
  const auto [q, k, v] = random_qkv(1, 29, 2, 32);
  torch::Tensor bias = torch::zeros({1, 29});
  bias.slice(1, 21).fill_(std::numeric_limits<float>::lowest());
  for (AttentionKernel kernel : {AttentionKernel::kPortable, AttentionKernel::kAvx2}) {
    const torch::Tensor padded = attention_with(kernel, q, k, v, bias, 0.2).slice(1, 0, 21);
    const torch::Tensor alone = attention_with(kernel, q.slice(1, 0, 21).contiguous(), k.slice(1, 0, 21).contiguous(),
                                               v.slice(1, 0, 21).contiguous(), torch::Tensor(), 0.2);
    EXPECT_LT((padded - alone).abs().max().item<float>(), 1e-6);
  }
}

TEST(FusedAttention, AcceptsStridedViewsAndFourDimensionalBias) {
  // q, k, v as views into one fused projection (GTE's qkv_proj), bias [B, 1, 1, T].
  KernelGuard guard;
  torch::InferenceMode inference;
  torch::manual_seed(3);
  const torch::Tensor qkv = torch::randn({2, 23, 3 * 64});
  auto parts = qkv.split(64, -1);
  const torch::Tensor q = parts[0].view({2, 23, 2, 32}), k = parts[1].view({2, 23, 2, 32}),
                      v = parts[2].view({2, 23, 2, 32});
  const torch::Tensor bias = padding_bias(2, 23).view({2, 1, 1, 23});
  const torch::Tensor reference = attention_with(AttentionKernel::kReference, q, k, v, bias, 0.17);
  const torch::Tensor fused = attention_with(AttentionKernel::kAuto, q, k, v, bias, 0.17);
  EXPECT_LT((fused - reference).abs().max().item<float>(), 1e-5);
}

TEST(FusedAttention, Bf16InputsGiveBf16OutputCloseToFloat32) {
  KernelGuard guard;
  torch::InferenceMode inference;
  torch::manual_seed(5);
  const auto [q, k, v] = random_qkv(2, 40, 3, 32);
  const torch::Tensor bias = padding_bias(2, 40);
  const torch::Tensor exact = attention_with(AttentionKernel::kReference, q, k, v, bias, 0.18);
  const torch::Tensor half = attention_with(AttentionKernel::kAuto, q.to(torch::kBFloat16), k.to(torch::kBFloat16),
                                            v.to(torch::kBFloat16), bias.to(torch::kBFloat16), 0.18);
  EXPECT_EQ(half.scalar_type(), torch::kBFloat16);
  EXPECT_LT((half.to(torch::kFloat32) - exact).abs().max().item<float>(), 0.05);
}

TEST(FusedAttention, AutogradTakesTheReferencePathAndGradientsFlow) {
  KernelGuard guard;
  set_attention_kernel(AttentionKernel::kAuto);
  torch::manual_seed(11);
  const torch::Tensor q = torch::randn({2, 9, 2, 8}, torch::requires_grad());
  const torch::Tensor k = torch::randn({2, 9, 2, 8}), v = torch::randn({2, 9, 2, 8});
  torch::Tensor out = encoder_attention(q, k, v, padding_bias(2, 9), 0.35);
  ASSERT_TRUE(out.requires_grad());
  out.sum().backward();
  ASSERT_TRUE(q.grad().defined());
  EXPECT_GT(q.grad().abs().sum().item<float>(), 0.0f);
}

TEST(FusedAttention, RejectsMismatchedShapes) {
  torch::InferenceMode inference;
  const torch::Tensor q = torch::randn({2, 9, 2, 8});
  EXPECT_THROW(encoder_attention(q, torch::randn({2, 8, 2, 8}), q, torch::Tensor(), 1.0), Error);
  EXPECT_THROW(encoder_attention(q, q, q, torch::zeros({2, 10}), 1.0), Error);
  EXPECT_THROW(encoder_attention(torch::randn({9, 2, 8}), q, q, torch::Tensor(), 1.0), Error);
}

}  // namespace
}  // namespace e2llm::nn
