#include <gtest/gtest.h>
#include <torch/torch.h>

#include "e2llm/compress/adapter.h"
#include "e2llm/core/error.h"

using namespace e2llm;

TEST(Adapter, ComputesLinearGeluLinearWithNamedTrainableParameters) {
  torch::manual_seed(7);
  Adapter adapter(AdapterOptions{6, 10, 4});
  std::vector<std::string> names;
  for (const auto& p : adapter->named_parameters()) {
    names.push_back(p.key());
    EXPECT_TRUE(p.value().requires_grad()) << p.key();
  }
  EXPECT_EQ(names, (std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
  EXPECT_EQ(adapter->fc1->weight.sizes(), (torch::IntArrayRef{10, 6}));
  EXPECT_EQ(adapter->fc2->weight.sizes(), (torch::IntArrayRef{4, 10}));

  {
    torch::NoGradGuard g;
    adapter->fc1->bias.normal_();
    adapter->fc2->bias.normal_();
  }
  auto x = torch::randn({3, 5, 6});
  auto y = adapter->forward(x);
  ASSERT_EQ(y.sizes(), (torch::IntArrayRef{3, 5, 4}));
  // Exact GELU (erf), as torch.nn.GELU() and the reference implementation use.
  auto h = torch::matmul(x, adapter->fc1->weight.t()) + adapter->fc1->bias;
  h = 0.5 * h * (1 + torch::erf(h / std::sqrt(2.0)));
  auto expected = torch::matmul(h, adapter->fc2->weight.t()) + adapter->fc2->bias;
  EXPECT_TRUE(torch::allclose(y, expected, 1e-5, 1e-6));

  y.sum().backward();
  for (const auto& p : adapter->parameters()) EXPECT_GT(p.grad().abs().sum().item<float>(), 0.0f);
}

TEST(Adapter, HiddenDefaultsToOutputWidthAndFollowsParameterDtype) {
  Adapter adapter(AdapterOptions{8, 0, 12});
  EXPECT_EQ(adapter->options().hidden_dim, 12);
  adapter->to(torch::kBFloat16);
  auto y = adapter->forward(torch::randn({2, 8}));  // float input, bf16 weights
  EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(y.sizes(), (torch::IntArrayRef{2, 12}));
}

TEST(Adapter, RejectsWrongWidthsWithAMessage) {
  EXPECT_THROW(Adapter(AdapterOptions{0, 4, 4}), Error);
  Adapter adapter(AdapterOptions{8, 4, 4});
  try {
    adapter->forward(torch::randn({2, 7}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("encoder width 8"), std::string::npos) << e.what();
  }
}
