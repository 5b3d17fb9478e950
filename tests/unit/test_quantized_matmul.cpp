// The quantized kernels against dequantize-then-matmul in float64, on random
// blocks of every supported type, for every code path this CPU has (each
// forced with set_quant_kernel, as E2LLM_QUANT_KERNEL does), and the GGUF view
// of a real model's quantized tensors against its float32 view.
#include <c10/util/Half.h>
#include <torch/torch.h>

#include <gmock/gmock.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "e2llm/core/error.h"
#include "e2llm/io/gguf.h"
#include "e2llm/nn/lora.h"
#include "e2llm/nn/quantized_matmul.h"
#include "test_util.h"

using namespace e2llm;
using nn::QuantKernel;

namespace {

struct TypeCase {
  GgmlType type;
  std::vector<int> half_offsets;  // where the block's float16 scales lie
};

const std::vector<TypeCase>& type_cases() {
  static const std::vector<TypeCase> cases = {
      {GgmlType::Q4_0, {0}},    {GgmlType::Q4_1, {0, 2}}, {GgmlType::Q5_0, {0}},
      {GgmlType::Q5_1, {0, 2}}, {GgmlType::Q8_0, {0}},    {GgmlType::Q4_K, {0, 2}},
      {GgmlType::Q5_K, {0, 2}}, {GgmlType::Q6_K, {208}},
  };
  return cases;
}

// Random blocks (every bit pattern of the codes and sub-block scales) with
// finite float16 scales of either sign.
struct RandomMatrix {
  std::vector<uint8_t> bytes;
  QuantizedTensor q;
};

RandomMatrix random_matrix(const TypeCase& c, int64_t rows, int64_t cols, uint32_t seed) {
  const GgmlTypeTraits& t = ggml_type_traits(c.type);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  RandomMatrix m;
  const int64_t blocks = rows * cols / t.block_size;
  m.bytes.resize(static_cast<size_t>(blocks * t.type_size));
  for (auto& b : m.bytes) b = static_cast<uint8_t>(byte(rng));
  for (int64_t b = 0; b < blocks; ++b)
    for (int offset : c.half_offsets) {
      const uint16_t bits = c10::Half(scale(rng)).x;
      std::memcpy(m.bytes.data() + b * t.type_size + offset, &bits, 2);
    }
  m.q.type = c.type;
  m.q.data = m.bytes.data();
  m.q.rows = rows;
  m.q.cols = cols;
  return m;
}

torch::Tensor dequantized(const QuantizedTensor& q) {
  torch::Tensor w = torch::empty({q.rows, q.cols}, torch::kFloat32);
  for (int64_t r = 0; r < q.rows; ++r)
    dequantize_ggml(q.type, q.row(r), static_cast<uint64_t>(q.cols), w[r].data_ptr<float>());
  return w;
}

// The documented bound: each activation is off by at most half an int16 step
// of its 32-value block (amax / 65534), so |y − y_ref| ≤ Σ_i |W_ri| · amax_i / 65534,
// plus float32 rounding of the sums.
torch::Tensor error_bound(const torch::Tensor& w, const torch::Tensor& x) {
  torch::Tensor amax = x.abs().view({x.size(0), -1, 32}).amax(-1, true).expand({x.size(0), x.size(1) / 32, 32});
  torch::Tensor step = amax.reshape({x.size(0), x.size(1)}) / 65534.0;
  torch::Tensor wa = w.abs().to(torch::kFloat64);
  return torch::mm(step.to(torch::kFloat64), wa.t()) * 1.0001 +
         1e-5 * torch::mm(x.abs().to(torch::kFloat64), wa.t()) + 1e-6;
}

std::vector<QuantKernel> available_kernels() {
  std::vector<QuantKernel> out;
  const QuantKernel saved = nn::quant_kernel();
  for (QuantKernel k : {QuantKernel::kPortable, QuantKernel::kAvx2, QuantKernel::kAvx512}) {
    try {
      nn::set_quant_kernel(k);
      out.push_back(k);
    } catch (const Error&) {
      std::printf("[ note ] this CPU lacks the %s path; not tested here\n", nn::quant_kernel_name(k).c_str());
    }
  }
  nn::set_quant_kernel(saved);
  return out;
}

template <class Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

class KernelGuard {
 public:
  explicit KernelGuard(QuantKernel k) : saved_(nn::quant_kernel()) { nn::set_quant_kernel(k); }
  ~KernelGuard() { nn::set_quant_kernel(saved_); }

 private:
  QuantKernel saved_;
};

}  // namespace

namespace {

// A random [37, cols] matrix of type c times 1, 3 and 9 tokens on every path
// this CPU has: within the rounding bound, and the paths agree with each other.
// 37 rows: the threads' row split ends mid-way.
void expect_every_path_within_bound(const TypeCase& c, int64_t cols, uint32_t seed,
                                    const std::vector<QuantKernel>& kernels) {
  const int64_t rows = 37;
  RandomMatrix m = random_matrix(c, rows, cols, seed);
  const torch::Tensor w = dequantized(m.q);
  for (int64_t n : {1, 3, 9}) {
    torch::Tensor x = torch::randn({n, cols});
    x[0].narrow(0, 32, 32).zero_();  // an all-zero activation block
    const torch::Tensor ref = torch::mm(x.to(torch::kFloat64), w.to(torch::kFloat64).t());
    const torch::Tensor bound = error_bound(w, x);
    torch::Tensor first;
    for (QuantKernel k : kernels) {
      SCOPED_TRACE(std::string(ggml_type_traits(c.type).name) + " cols=" + std::to_string(cols) +
                   " n=" + std::to_string(n) + " " + nn::quant_kernel_name(k));
      KernelGuard guard(k);
      const torch::Tensor y = nn::quantized_linear(x, m.q);
      ASSERT_EQ(y.sizes(), torch::IntArrayRef({n, rows}));
      const torch::Tensor err = (y.to(torch::kFloat64) - ref).abs();
      EXPECT_TRUE(err.le(bound).all().item<bool>()) << "worst excess " << (err - bound).max().item<double>();
      // The paths share the integer sums; only the float order differs.
      if (!first.defined()) first = y;
      EXPECT_LE((y - first).abs().max().item<double>(), 1e-5 * first.abs().max().item<double>() + 1e-6);
    }
  }
}

}  // namespace

TEST(QuantizedMatmul, EveryTypeAndPathIsWithinTheActivationRoundingBound) {
  torch::manual_seed(3);
  const auto kernels = available_kernels();
  ASSERT_FALSE(kernels.empty());
  uint32_t seed = 1;
  for (const TypeCase& c : type_cases()) {
    // 32-value types: a partial last chunk (288 = 256 + 32), rows that are not
    // whole groups of eight blocks (9, 7 and SmolLM2's 18 blocks); k-quants:
    // several superblocks.
    const bool small_blocks = ggml_type_traits(c.type).block_size == 32;
    for (int64_t cols : small_blocks ? std::vector<int64_t>{288, 224, 576} : std::vector<int64_t>{768})
      expect_every_path_within_bound(c, cols, seed++, kernels);
  }
}

TEST(QuantizedMatmul, ErrorIsSmallRelativeToTheOutput) {
  // The bound above is loose; on typical data the error is a fraction of a percent.
  torch::manual_seed(4);
  RandomMatrix m = random_matrix(type_cases()[1], 64, 512, 11);  // Q4_1
  const torch::Tensor w = dequantized(m.q);
  const torch::Tensor x = torch::randn({1, 512});
  const torch::Tensor y = nn::quantized_linear(x, m.q), ref = torch::mm(x, w.t());
  EXPECT_LT(((y - ref).norm() / ref.norm()).item<double>(), 0.01);
}

TEST(QuantizedMatmul, ManyTokensGoThroughFloat32Tiles) {
  // 1,030 rows of 1,024 columns: a whole ~4 MB tile of 1,024 rows, then a
  // partial one, written into y's columns where they lie.
  torch::manual_seed(5);
  const auto kernels = available_kernels();
  for (const TypeCase& c : type_cases()) {
    SCOPED_TRACE(ggml_type_traits(c.type).name);
    RandomMatrix m = random_matrix(c, 1030, 1024, 21);
    const torch::Tensor w = dequantized(m.q);
    const torch::Tensor x = torch::randn({2, nn::kQuantizedTiledFromTokens, 1024});
    const torch::Tensor ref = torch::matmul(x, w.t());
    torch::Tensor first;
    for (QuantKernel k : kernels) {
      SCOPED_TRACE(nn::quant_kernel_name(k));
      KernelGuard guard(k);
      const torch::Tensor y = nn::quantized_linear(x, m.q);
      ASSERT_EQ(y.sizes(), torch::IntArrayRef({2, nn::kQuantizedTiledFromTokens, 1030}));
      EXPECT_TRUE(torch::allclose(y, ref, 1e-4, 1e-4));
      // Every path's tiles are dequantize_ggml's values to the bit, so the
      // products are the same BLAS calls on the same numbers.
      if (!first.defined()) first = y;
      EXPECT_TRUE(torch::equal(y, first));
    }
  }
}

TEST(QuantizedMatmul, RowOrderPicksStoredRows) {
  // Every type and path, one token and several: the four-row Q4 kernel reads
  // four stored rows at once, the others one.
  const auto kernels = available_kernels();
  uint32_t seed = 31;
  for (const TypeCase& c : type_cases()) {
    const int64_t cols = 2 * ggml_type_traits(c.type).block_size;
    RandomMatrix m = random_matrix(c, 8, cols, seed++);
    const torch::Tensor w = dequantized(m.q);
    m.q.row_order = {7, 6, 5, 4, 0, 1, 2, 3};
    const torch::Tensor order = torch::tensor(m.q.row_order, torch::kInt64);
    const torch::Tensor reordered = w.index_select(0, order);
    for (int64_t n : {1, 3})
      for (QuantKernel k : kernels) {
        SCOPED_TRACE(std::string(ggml_type_traits(c.type).name) + " cols=" + std::to_string(cols) + " n=" +
                   std::to_string(n) + " " +
                     nn::quant_kernel_name(k));
        KernelGuard guard(k);
        const torch::Tensor x = torch::randn({n, cols});
        const torch::Tensor err = (nn::quantized_linear(x, m.q) - torch::mm(x, reordered.t())).abs().to(torch::kFloat64);
        EXPECT_TRUE(err.le(error_bound(reordered, x)).all().item<bool>());
      }
    const torch::Tensor ids = torch::tensor({3, 0}, torch::kInt64);
    EXPECT_TRUE(torch::equal(nn::quantized_rows(m.q, ids), reordered.index_select(0, ids)));
  }
}

TEST(QuantizedMatmul, SeveralMatricesAtOnceEqualEachAlone) {
  // Mixed types and row counts (as Gemma's q/k/v), so the rows of one thread
  // cross from one matrix into the next; one token, a few, and the tiled path.
  const auto kernels = available_kernels();
  const int64_t cols = 256;
  std::vector<RandomMatrix> ms;
  ms.push_back(random_matrix(type_cases()[1], 37, cols, 51));  // Q4_1
  ms.push_back(random_matrix(type_cases()[6], 13, cols, 52));  // Q5_K
  ms.push_back(random_matrix(type_cases()[4], 20, cols, 53));  // Q8_0
  std::vector<const QuantizedTensor*> ws;
  for (const RandomMatrix& m : ms) ws.push_back(&m.q);
  torch::manual_seed(6);
  for (int64_t n : {int64_t{1}, int64_t{3}, nn::kQuantizedTiledFromTokens})
    for (QuantKernel k : kernels) {
      SCOPED_TRACE("n=" + std::to_string(n) + " " + nn::quant_kernel_name(k));
      KernelGuard guard(k);
      const torch::Tensor x = torch::randn({2, n, cols});
      const std::vector<torch::Tensor> ys = nn::quantized_linears(x, ws);
      ASSERT_EQ(ys.size(), ws.size());
      for (size_t i = 0; i < ws.size(); ++i) {
        ASSERT_EQ(ys[i].sizes(), torch::IntArrayRef({2, n, ws[i]->rows}));
        EXPECT_TRUE(torch::equal(ys[i], nn::quantized_linear(x, *ws[i]))) << "matrix " << i;
      }
    }
  using testing::HasSubstr;
  RandomMatrix narrow = random_matrix(type_cases()[0], 4, 64, 54);
  EXPECT_THAT(error_of([&] { nn::quantized_linears(torch::randn({1, cols}), {ws[0], &narrow.q}); }),
              HasSubstr("input of width 256 for a [4, 64] matrix"));
}

TEST(QuantizedMatmul, LayersForwardTogetherAsEachAlone) {
  // Bias and LoRA (with a non-zero B) are added per layer after the shared product.
  const int64_t cols = 64;
  std::vector<std::shared_ptr<RandomMatrix>> ms;
  std::vector<nn::Linear> layers;
  for (int64_t rows : {24, 8}) {
    ms.push_back(std::make_shared<RandomMatrix>(random_matrix(type_cases()[0], rows, cols, 60 + rows)));
    const auto weights = std::shared_ptr<const QuantizedTensor>(ms.back(), &ms.back()->q);
    layers.emplace_back(weights, torch::randn({rows}));
    nn::LoraConfig lora;
    lora.rank = 2;
    layers.back()->attach_lora(lora);
    torch::NoGradGuard no_grad;
    layers.back()->lora_B->weight.normal_();
  }
  const torch::Tensor x = torch::randn({1, 1, cols});
  const std::vector<torch::Tensor> together = nn::forward_together({layers[0].get(), layers[1].get()}, x);
  ASSERT_EQ(together.size(), 2u);
  for (size_t i = 0; i < layers.size(); ++i) EXPECT_TRUE(torch::equal(together[i], layers[i]->forward(x))) << i;

  // A float layer among them: each runs on its own, with the same results.
  nn::Linear dense(torch::randn({5, cols}));
  const std::vector<torch::Tensor> mixed = nn::forward_together({layers[0].get(), dense.get()}, x);
  EXPECT_TRUE(torch::equal(mixed[0], together[0]));
  EXPECT_TRUE(torch::equal(mixed[1], dense->forward(x)));

  const torch::Tensor needs_grad = x.clone().requires_grad_(true);
  EXPECT_THAT(error_of([&] { nn::forward_together({layers[0].get(), layers[1].get()}, needs_grad); }),
              testing::HasSubstr("a gradient cannot flow through quantized weights"));
}

TEST(QuantizedMatmul, BadInputsAreClearErrors) {
  RandomMatrix m = random_matrix(type_cases()[0], 4, 64, 41);
  using testing::HasSubstr;
  EXPECT_THAT(error_of([&] { nn::quantized_linear(torch::randn({1, 63}), m.q); }), HasSubstr("input of width 63"));
  EXPECT_THAT(error_of([&] { nn::quantized_rows(m.q, torch::tensor({4}, torch::kInt64)); }),
              HasSubstr("row 4 outside a matrix of 4 rows"));
  QuantizedTensor f16 = m.q;
  f16.type = GgmlType::F16;
  EXPECT_THAT(error_of([&] { nn::quantized_linear(torch::randn({1, 64}), f16); }),
              HasSubstr("no quantized kernel for ggml type F16"));
}

// auto means avx2 wherever the CPU has it, AVX-512 CPUs included: the avx2
// path measured faster on every type there (docs/decoder.md, "Path choice").
TEST(QuantizedMatmul, AutoChoosesTheAvx2PathWhenTheCpuHasIt) {
  KernelGuard guard(QuantKernel::kAuto);
  const std::vector<QuantKernel> paths = available_kernels();
  const bool has_avx2 = std::find(paths.begin(), paths.end(), QuantKernel::kAvx2) != paths.end();
  EXPECT_EQ(nn::resolved_quant_kernel(), has_avx2 ? QuantKernel::kAvx2 : QuantKernel::kPortable);
}

TEST(QuantizedMatmulReal, GgufQuantizedViewEqualsTheFloatView) {
  // SmolLM2 is a Llama GGUF: q/k rows are stored permuted, which row_order undoes.
  E2LLM_REQUIRE_REAL_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
  auto weights = GgufWeights::open(path);
  for (const char* name : {"model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
                           "model.layers.3.mlp.down_proj.weight", "model.embed_tokens.weight"}) {
    SCOPED_TRACE(name);
    auto q = weights->quantized(name);
    ASSERT_TRUE(q.has_value());
    const torch::Tensor full = weights->get(name);
    EXPECT_EQ(full.sizes(), torch::IntArrayRef({q->rows, q->cols}));
    const torch::Tensor ids = torch::arange(q->rows, torch::kInt64);
    EXPECT_TRUE(torch::equal(nn::quantized_rows(*q, ids), full));
  }
  EXPECT_FALSE(weights->quantized("model.norm.weight").has_value());  // float32 in the file
}
