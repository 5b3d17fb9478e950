// The decoder's fused causal attention (portable and AVX2) against the
// reference (grouped_attention, transformers' eager semantics): grouped-query
// heads, lengths off the kernel's blocks, a KV-cache offset, padding slots and
// fully padded query rows, sliding windows, softcapping, head sizes that are
// not multiples of the vector slices, bf16 inputs; then whole random decoders.
//
// Tolerance: float32 outputs of the fused kernel stay within 1e-5 × max |reference|
// (the difference is summation order and the polynomial exp, ~1e-6).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cctype>
#include <optional>
#include <vector>

#include "decoder/causal_attention.h"
#include "e2llm/decoder/decoder.h"
#include "support/random_models.h"
#include "test_util.h"

namespace e2llm::detail {
namespace {

constexpr double kTolerance = 1e-5;  // relative to the largest reference output

// Restores the process-wide kernel choice after each test.
class KernelGuard {
 public:
  KernelGuard() : saved_(causal_attention_kernel()) {}
  ~KernelGuard() { set_causal_attention_kernel(saved_); }

 private:
  CausalAttentionKernel saved_;
};

const std::vector<CausalAttentionKernel> kFused = {CausalAttentionKernel::kPortable, CausalAttentionKernel::kAvx2};

const char* name(CausalAttentionKernel k) {
  switch (k) {
    case CausalAttentionKernel::kAuto: return "auto";
    case CausalAttentionKernel::kReference: return "reference";
    case CausalAttentionKernel::kPortable: return "portable";
    case CausalAttentionKernel::kAvx2: return "avx2";
  }
  return "?";
}

struct Case {
  const char* what;
  int64_t batch, heads, kv_heads, length, start, head_dim;
  std::vector<int64_t> left_pad;  // invalid slots at the start of each row (may reach past `start`)
  std::optional<int64_t> window;
  std::optional<double> softcap;
};

struct Inputs {
  torch::Tensor q, k, v;
  CausalMask mask;
};

// Random inputs shaped like the decoder's: q a transposed [B, T, H, d], k and
// v views of the first S slots of a larger cache. Row b has left_pad[b]
// padding slots first; row 2 (if any) also has a hole of invalid slots in the
// cached part, as KvCache::append leaves.
Inputs random_inputs(const Case& c) {
  const int64_t S = c.start + c.length;
  torch::Tensor q = torch::randn({c.batch, c.length, c.heads, c.head_dim}).transpose(1, 2) * 1.5;
  torch::Tensor k = torch::randn({c.batch, c.kv_heads, S + 9, c.head_dim}).narrow(2, 0, S);
  torch::Tensor v = torch::randn({c.batch, c.kv_heads, S + 9, c.head_dim}).narrow(2, 0, S);
  torch::Tensor valid = torch::ones({c.batch, S}, torch::kBool);
  torch::Tensor pos = torch::zeros({c.batch, S}, torch::kInt64);
  for (int64_t b = 0; b < c.batch; ++b) {
    const int64_t pad = b < static_cast<int64_t>(c.left_pad.size()) ? c.left_pad[b] : 0;
    valid[b].narrow(0, 0, std::min(pad, S)).fill_(false);
    if (b == 2 && c.start > 12) valid[b].narrow(0, c.start - 8, 5).fill_(false);
    int64_t next = 0;
    for (int64_t s = 0; s < S; ++s) pos[b][s] = valid[b][s].item<bool>() ? next++ : 1;
  }
  return {q, k, v, CausalMask{valid, pos, pos.narrow(1, c.start, c.length).contiguous(), c.start, c.window}};
}

torch::Tensor reference(const Inputs& in, double scale, const std::optional<double>& softcap) {
  return grouped_attention(in.q, in.k, in.v, dense_mask(in.mask), scale, softcap);
}

torch::Tensor fused(CausalAttentionKernel kernel, const Inputs& in, double scale, const std::optional<double>& softcap) {
  set_causal_attention_kernel(kernel);
  return causal_attention(in.q, in.k, in.v, in.mask, scale, softcap);
}

double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat32) - b.to(torch::kFloat32)).abs().max().item<double>() /
         b.abs().max().item<double>();
}

class CausalAttentionCases : public ::testing::TestWithParam<Case> {};

TEST_P(CausalAttentionCases, FusedEqualsTheReference) {
  KernelGuard guard;
  torch::InferenceMode inference;
  const Case& c = GetParam();
  torch::manual_seed(c.length * 131 + c.start * 7 + c.head_dim);
  const Inputs in = random_inputs(c);
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));
  const torch::Tensor ref = reference(in, scale, c.softcap);
  for (CausalAttentionKernel kernel : kFused) {
    const torch::Tensor out = fused(kernel, in, scale, c.softcap);
    ASSERT_EQ(out.sizes(), ref.sizes()) << name(kernel);
    ASSERT_EQ(out.scalar_type(), torch::kFloat32);
    EXPECT_LE(relative_error(out, ref), kTolerance) << c.what << ", " << name(kernel);
  }
}

INSTANTIATE_TEST_SUITE_P(
    CausalAttention, CausalAttentionCases,
    ::testing::Values(
        // GQA, one and several query blocks and key tiles, lengths off every block size.
        Case{"gqa", 2, 6, 2, 75, 0, 64, {}, {}, {}},
        Case{"smollm-like", 1, 9, 3, 203, 0, 64, {}, {}, {}},
        Case{"multi-head", 2, 4, 4, 33, 0, 32, {}, {}, {}},
        // Left padding, a row padded past its first query (queries that see nothing).
        Case{"left padding", 3, 6, 2, 75, 0, 64, {0, 5, 40}, {}, {}},
        // A cache offset (S > T), padding inside the cache, a hole, rows padded past `start`.
        Case{"cache", 3, 6, 2, 45, 70, 64, {0, 12, 80}, {}, {}},
        Case{"cache, short prefill", 2, 6, 2, 3, 130, 64, {4, 0}, {}, {}},
        Case{"decode step", 3, 6, 2, 1, 99, 64, {0, 7, 100}, {}, {}},
        // Decoding reads K in place (T <= 2): a cache shorter than 8 keys, two
        // tokens, Gemma's shapes (G = 4, d = 256) with a window and softcap, d = 80.
        Case{"decode from a short cache", 1, 6, 2, 1, 3, 64, {}, {}, {}},
        Case{"two-token step", 2, 9, 3, 2, 57, 64, {0, 5}, {}, {}},
        Case{"gemma-like decode", 2, 4, 1, 1, 150, 256, {0, 3}, 20, 5.0},
        Case{"decode d=80", 2, 6, 2, 1, 13, 80, {0, 4}, {}, {}},
        // Sliding window smaller than T, with and without a cache.
        Case{"window", 2, 6, 2, 150, 0, 64, {0, 9}, 20, {}},
        Case{"window and cache", 3, 6, 2, 70, 77, 80, {0, 3, 90}, 33, {}},
        // Softcap (with a window, as Gemma 2 has).
        Case{"softcap", 2, 6, 2, 90, 17, 64, {0, 6}, {}, 5.0},
        Case{"softcap and window", 2, 4, 2, 70, 0, 64, {2, 0}, 16, 5.0},
        // Head sizes: 80 (a 16-wide value slice), 40, 36 (no AVX2: falls back to portable).
        Case{"d=80", 2, 6, 2, 67, 10, 80, {0, 4}, {}, {}},
        Case{"d=40", 2, 6, 3, 41, 0, 40, {}, {}, {}},
        Case{"d=36", 2, 6, 2, 41, 5, 36, {0, 8}, {}, {}}),
    [](const auto& info) {
      std::string s = info.param.what;
      for (char& ch : s)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return s;
    });

// Decoding from a long cache splits each KV head's keys into ranges, one task
// each, and merges their softmaxes. With padding, a hole, a row that sees no
// key, and a window that leaves most ranges without a visible key.
TEST(CausalAttention, DecodingSplitAcrossThreadsEqualsTheReference) {
  KernelGuard guard;
  torch::InferenceMode inference;
  const int threads = at::get_num_threads();
  at::set_num_threads(4);  // splits need more than one thread
  for (const Case& c : {Case{"long decode", 3, 9, 3, 1, 1700, 64, {0, 300, 1701}, {}, {}},
                        Case{"long two-token step", 2, 6, 2, 2, 1200, 80, {0, 5}, {}, {}},
                        Case{"long windowed decode", 2, 4, 1, 1, 1500, 256, {0, 3}, 20, 5.0}}) {
    torch::manual_seed(c.start);
    const Inputs in = random_inputs(c);
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));
    const torch::Tensor ref = reference(in, scale, c.softcap);
    for (CausalAttentionKernel kernel : kFused)
      EXPECT_LE(relative_error(fused(kernel, in, scale, c.softcap), ref), kTolerance) << c.what << ", " << name(kernel);
  }
  at::set_num_threads(threads);
}

TEST(CausalAttention, QueriesThatSeeNoKeyGetTheMeanOfV) {
  // transformers' -1e30 fill gives such rows uniform weights over all S keys.
  KernelGuard guard;
  torch::InferenceMode inference;
  torch::manual_seed(2);
  const Inputs in = random_inputs({"", 1, 4, 2, 20, 0, 32, {6}, {}, {}});
  const torch::Tensor mean = in.v.mean(2);  // [B, KVH, d]
  for (CausalAttentionKernel kernel : kFused) {
    const torch::Tensor out = fused(kernel, in, 0.2, std::nullopt);
    for (int64_t h = 0; h < 4; ++h)
      for (int64_t t = 0; t < 6; ++t)
        EXPECT_LE((out[0][h][t] - mean[0][h / 2]).abs().max().item<double>(), 1e-6) << name(kernel);
  }
}

TEST(CausalAttention, Bf16InputsGiveBf16OutputsOfTheFloat32Result) {
  // The kernel converts bf16 once and computes in float32: its output is the
  // float32 result of the same (rounded) inputs, rounded to bf16 (2^-8 relative).
  KernelGuard guard;
  torch::InferenceMode inference;
  torch::manual_seed(4);
  const Case c{"", 2, 6, 2, 75, 20, 64, {0, 30}, 24, {}};
  const Inputs in = random_inputs(c);
  const Inputs half{in.q.to(torch::kBFloat16), in.k.to(torch::kBFloat16), in.v.to(torch::kBFloat16), in.mask};
  const Inputs rounded{half.q.to(torch::kFloat32), half.k.to(torch::kFloat32), half.v.to(torch::kFloat32), in.mask};
  const torch::Tensor exact = reference(rounded, 0.125, std::nullopt);
  const torch::Tensor ref_bf16 = reference(half, 0.125, std::nullopt);
  for (CausalAttentionKernel kernel : kFused) {
    const torch::Tensor out = fused(kernel, half, 0.125, std::nullopt);
    EXPECT_EQ(out.scalar_type(), torch::kBFloat16);
    const torch::Tensor diff = (out.to(torch::kFloat32) - exact).abs();
    EXPECT_TRUE((diff <= exact.abs() * (1.0 / 256) + 1e-6).all().item<bool>())
        << name(kernel) << ": " << diff.max().item<double>();
    // The bf16 reference rounds scores and weights to bf16 too: close, not equal.
    EXPECT_LE(relative_error(out, ref_bf16), 0.03) << name(kernel);
  }
}

// A float16 KV cache: the AVX2 kernel reads K and V as they lie (converting as
// it loads), the portable one gets float32 copies; both give the float32 result
// of the rounded keys and values, in q's dtype. Decoding (K in place), a short
// prefill onto the cache (K packed), a split decode, Gemma's window and
// softcap, and queries that see no key (the mean of V).
TEST(CausalAttention, Float16CacheGivesTheResultOfItsRoundedValues) {
  KernelGuard guard;
  torch::InferenceMode inference;
  const int threads = at::get_num_threads();
  at::set_num_threads(4);
  auto as_half_cache = [](const torch::Tensor& x) {  // a view of the first S slots of a larger cache
    const int64_t S = x.size(2);
    return torch::zeros({x.size(0), x.size(1), S + 9, x.size(3)}, torch::kHalf).narrow(2, 0, S).copy_(x);
  };
  for (const Case& c : {Case{"decode step", 3, 6, 2, 1, 99, 64, {0, 7, 100}, {}, {}},
                        Case{"cache, short prefill", 2, 6, 2, 3, 130, 64, {4, 0}, {}, {}},
                        Case{"long decode", 2, 9, 3, 1, 1700, 64, {0, 300}, {}, {}},
                        Case{"gemma-like decode", 2, 4, 1, 1, 150, 256, {0, 3}, 20, 5.0},
                        Case{"padded past the queries", 1, 4, 2, 20, 0, 32, {6}, {}, {}}}) {
    torch::manual_seed(c.start + 3);
    const Inputs in = random_inputs(c);
    const Inputs half{in.q, as_half_cache(in.k), as_half_cache(in.v), in.mask};
    const Inputs rounded{in.q, half.k.to(torch::kFloat32), half.v.to(torch::kFloat32), in.mask};
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));
    const torch::Tensor ref = reference(rounded, scale, c.softcap);
    ASSERT_GT(relative_error(reference(in, scale, c.softcap), ref), 0.0) << "float16 must round something";
    for (CausalAttentionKernel kernel : kFused) {
      const torch::Tensor out = fused(kernel, half, scale, c.softcap);
      EXPECT_EQ(out.scalar_type(), torch::kFloat32);
      EXPECT_LE(relative_error(out, ref), kTolerance) << c.what << ", " << name(kernel);
    }
  }
  at::set_num_threads(threads);
}

TEST(CausalAttention, PicksTheReferenceForAutogradAndWhenAsked) {
  KernelGuard guard;
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const Inputs prefill = random_inputs({"", 1, 4, 2, 16, 0, 32, {}, {}, {}});
  const Inputs step = random_inputs({"", 1, 4, 2, 1, 16, 32, {}, {}, {}});
  const Inputs odd = random_inputs({"", 1, 4, 2, 16, 0, 36, {}, {}, {}});
  set_causal_attention_kernel(CausalAttentionKernel::kAuto);
  {
    torch::NoGradGuard no_grad;
    EXPECT_EQ(use_fused_causal_attention(prefill.q, prefill.k, prefill.v), avx2);
    EXPECT_EQ(use_fused_causal_attention(step.q, step.k, step.v), avx2);  // measured faster on decode steps too
    EXPECT_FALSE(use_fused_causal_attention(odd.q, odd.k, odd.v));       // d % 8 != 0: only the portable kernel
  }
  const torch::Tensor q = prefill.q.detach().requires_grad_(true);
  EXPECT_FALSE(use_fused_causal_attention(q, prefill.k, prefill.v));  // autograd needs the graph
  {
    torch::NoGradGuard no_grad;  // no graph wanted: the kernel may run
    EXPECT_EQ(use_fused_causal_attention(q, prefill.k, prefill.v), avx2);
  }
  torch::NoGradGuard no_grad;
  set_causal_attention_kernel(CausalAttentionKernel::kPortable);
  EXPECT_TRUE(use_fused_causal_attention(odd.q, odd.k, odd.v));
  set_causal_attention_kernel(CausalAttentionKernel::kReference);
  EXPECT_FALSE(use_fused_causal_attention(prefill.q, prefill.k, prefill.v));
}

// ---- blockwise attention (training) ----------------------------------------------------

struct Gradients {
  torch::Tensor out, q, k, v;
};

// The output and the gradients of sum(out · weights) with respect to q, k, v.
template <typename Attention>
Gradients with_gradients(const Inputs& in, const torch::Tensor& weights, Attention attention) {
  torch::Tensor q = in.q.detach().clone().requires_grad_(true), k = in.k.detach().clone().requires_grad_(true),
                v = in.v.detach().clone().requires_grad_(true);
  torch::Tensor out = attention(q, k, v);
  (out * weights).sum().backward();
  return {out.detach(), q.grad(), k.grad(), v.grad()};
}

TEST(BlockwiseAttention, GivesTheReferenceOutputAndGradients) {
  for (const Case& c : {Case{"gqa", 2, 6, 2, 75, 0, 64, {}, {}, {}},
                        Case{"left padding", 3, 6, 2, 75, 0, 64, {0, 5, 40}, {}, {}},
                        Case{"cache and a hole", 3, 6, 2, 45, 70, 64, {0, 12, 80}, {}, {}},
                        Case{"window", 2, 6, 2, 150, 0, 64, {0, 9}, 20, {}},
                        Case{"softcap and window", 2, 4, 2, 70, 17, 80, {2, 0}, 16, 5.0}}) {
    torch::manual_seed(c.length + c.start);
    const Inputs in = random_inputs(c);
    const torch::Tensor mask = dense_mask(in.mask);
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));
    const torch::Tensor weights = torch::randn({c.batch, c.heads, c.length, c.head_dim});
    const Gradients ref = with_gradients(in, weights, [&](auto& q, auto& k, auto& v) {
      return grouped_attention(q, k, v, mask, scale, c.softcap);
    });
    for (int64_t rows : {16, 256}) {  // several blocks, and one
      const Gradients out = with_gradients(in, weights, [&](auto& q, auto& k, auto& v) {
        return blockwise_attention(q, k, v, mask, scale, c.softcap, rows);
      });
      const std::string what = std::string(c.what) + ", blocks of " + std::to_string(rows);
      EXPECT_LE(relative_error(out.out, ref.out), kTolerance) << what;
      EXPECT_LE(relative_error(out.q, ref.q), kTolerance) << what << ": dq";
      EXPECT_LE(relative_error(out.k, ref.k), kTolerance) << what << ": dk";
      EXPECT_LE(relative_error(out.v, ref.v), kTolerance) << what << ": dv";
    }
  }
}

TEST(BlockwiseAttention, RunsForLongInputsUnlessTheReferenceIsAsked) {
  KernelGuard guard;
  set_causal_attention_kernel(CausalAttentionKernel::kAuto);
  EXPECT_FALSE(use_blockwise_attention(torch::zeros({1, 4, 256, 8})));
  EXPECT_TRUE(use_blockwise_attention(torch::zeros({1, 4, 257, 8})));
  set_causal_attention_kernel(CausalAttentionKernel::kReference);
  EXPECT_FALSE(use_blockwise_attention(torch::zeros({1, 4, 257, 8})));
}

// A decoder trained on 300 tokens (blockwise attention, with and without
// activation checkpointing) gets the reference's loss gradient.
TEST(BlockwiseAttention, ADecoderGetsTheReferenceGradientOnALongInput) {
  KernelGuard guard;
  DecoderConfig config = tiny_decoder_config(DecoderFamily::Gemma3);  // a sliding window of 4
  config.max_position_embeddings = 512;
  config.attn_logit_softcapping = 20.0;
  test::TempDir dir;
  write_random_decoder(dir.path(), config, 23);
  torch::manual_seed(5);
  const torch::Tensor input = torch::randn({2, 300, config.hidden_size});
  torch::Tensor valid = torch::ones({2, 300}, torch::kBool);
  valid[1].narrow(0, 260, 40).fill_(false);  // right padding, as training batches have
  auto gradient = [&](CausalAttentionKernel kernel, bool checkpointing) {
    set_causal_attention_kernel(kernel);
    DecoderOptions options;
    options.activation_checkpointing = checkpointing;
    CausalLM lm = load_causal_lm(dir.path(), options);
    torch::Tensor x = input.clone().requires_grad_(true);
    torch::Tensor logits = lm->forward(x, valid);
    (logits.select(2, 3) * valid).sum().backward();
    return x.grad();
  };
  const torch::Tensor ref = gradient(CausalAttentionKernel::kReference, false);
  EXPECT_LE(relative_error(gradient(CausalAttentionKernel::kAuto, false), ref), kTolerance);
  EXPECT_LE(relative_error(gradient(CausalAttentionKernel::kAuto, true), ref), kTolerance);
}

// ---- whole decoders -------------------------------------------------------------------

torch::Tensor prompt_ids(int64_t batch, int64_t length, int64_t vocab, int64_t seed) {
  return (torch::arange(batch * length, torch::kInt64).view({batch, length}) * 7919 + seed) % vocab;
}

// Logits of: a prefill of 37 tokens, a second prefill of 70 against that
// cache, a left-padded batch of 3 prompts (one of them 60 tokens shorter)
// prefilled at once, and two decode steps of that batch.
std::vector<torch::Tensor> decoder_outputs(CausalLM& lm, CausalAttentionKernel kernel) {
  set_causal_attention_kernel(kernel);
  torch::InferenceMode inference;
  const int64_t vocab = lm->config().vocab_size;
  std::vector<torch::Tensor> out;
  KvCache cache = lm->new_cache(1, 128);
  out.push_back(lm->forward_ids(prompt_ids(1, 37, vocab, 3), {}, {}, &cache));
  out.push_back(lm->forward_ids(prompt_ids(1, 70, vocab, 5), {}, {}, &cache));
  torch::Tensor mask = torch::ones({3, 90}, torch::kInt64);
  mask[1].narrow(0, 0, 60).zero_();
  mask[2].narrow(0, 0, 5).zero_();
  KvCache batch = lm->new_cache(3, 128);
  out.push_back(lm->forward_ids(prompt_ids(3, 90, vocab, 11), mask, {}, &batch));
  out.push_back(lm->forward_step(torch::tensor({4, 9, 2}, torch::kInt64), batch));
  out.push_back(lm->forward_step(torch::tensor({7, 1, 3}, torch::kInt64), batch));
  return out;
}

class CausalAttentionDecoder : public ::testing::TestWithParam<DecoderFamily> {};

TEST_P(CausalAttentionDecoder, FusedGivesTheReferenceLogits) {
  KernelGuard guard;
  DecoderConfig config = tiny_decoder_config(GetParam());
  config.max_position_embeddings = 256;
  if (GetParam() == DecoderFamily::Gemma3) config.attn_logit_softcapping = 20.0;  // plus its window of 4
  test::TempDir dir;
  write_random_decoder(dir.path(), config, 17);
  CausalLM lm = load_causal_lm(dir.path());
  const auto ref = decoder_outputs(lm, CausalAttentionKernel::kReference);
  for (CausalAttentionKernel kernel : {CausalAttentionKernel::kAuto, CausalAttentionKernel::kPortable,
                                       CausalAttentionKernel::kAvx2}) {
    const auto out = decoder_outputs(lm, kernel);
    ASSERT_EQ(out.size(), ref.size());
    for (size_t i = 0; i < ref.size(); ++i) {
      ASSERT_EQ(out[i].sizes(), ref[i].sizes()) << i;
      EXPECT_LE(relative_error(out[i], ref[i]), kTolerance)
          << to_string(GetParam()) << " " << name(kernel) << " output " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(CausalAttention, CausalAttentionDecoder,
                         ::testing::Values(DecoderFamily::Llama, DecoderFamily::Mistral, DecoderFamily::Gemma3),
                         [](const auto& info) { return to_string(info.param); });

}  // namespace
}  // namespace e2llm::detail
