// Decoder attention: the ATen-ops reference and the fused CPU kernel (see
// causal_attention.h). The kernel computes in float32 whatever the model
// dtype, like the encoder's (src/encoder/attention.cpp): CPUs without bf16
// dot products gain nothing from bf16 here, and the softmax wants float32.
//
// One task = one (sequence, KV head) and up to kQueries query positions: its
// G·n rows (head g, query i at row g·n + i) meet the keys a tile of kTile at a
// time. Per tile: scores (against K packed transposed in blocks of 16 keys,
// packed once per call; AVX2 computes 6 rows × 16 keys at a time, as in the
// encoder), softcap and mask, the online-softmax update of every row, then
// acc = acc·alpha + p·V. Scratch is ~4·(2·rows·d + rows·kTile) bytes.
// Decoding from a long cache also splits each KV head's keys into ranges on
// several threads and merges their partial softmaxes (decode_split).
#include "decoder/causal_attention.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "core/tensor_cast.h"
#include "e2llm/core/error.h"
#include "nn/avx2_math.h"

namespace e2llm::detail {

// ---- reference -------------------------------------------------------------------

torch::Tensor dense_mask(const CausalMask& m) {
  int64_t T = m.q_pos.size(1), S = m.kv_valid.size(1);
  auto opts = torch::TensorOptions().dtype(torch::kInt64).device(m.q_pos.device());
  torch::Tensor causal = torch::arange(S, opts).unsqueeze(0) <= (torch::arange(T, opts) + m.start).unsqueeze(1);
  torch::Tensor mask = causal.unsqueeze(0).logical_and(m.kv_valid.unsqueeze(1));  // [B, T, S]
  if (m.window) mask = mask.logical_and((m.q_pos.unsqueeze(2) - m.kv_pos.unsqueeze(1)) < *m.window);
  return mask.unsqueeze(1).unsqueeze(1);
}

// Grouped-query attention without materialising repeated K/V: the G query
// heads sharing one KV head are stacked along the row axis, so one batched
// matmul per KV head serves them all.
torch::Tensor grouped_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                const torch::Tensor& mask, double scale, const std::optional<double>& softcap) {
  int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3);
  int64_t KVH = k.size(1), S = k.size(2), G = H / KVH;
  torch::Tensor qg = q.reshape({B, KVH, G * T, D});
  torch::Tensor scores = torch::matmul(qg, k.transpose(-1, -2)) * scale;  // [B, KVH, G*T, S]
  if (softcap) scores = torch::tanh(scores / *softcap) * *softcap;
  // A large finite value, not -inf: a fully masked row (a padding query)
  // then gets uniform weights instead of NaN, as in transformers.
  scores = scores.view({B, KVH, G, T, S}).masked_fill(mask.logical_not(), -1e30);
  torch::Tensor probs = torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type());
  return torch::matmul(probs.view({B, KVH, G * T, S}), v).view({B, H, T, D});
}

namespace {

// ---- blockwise attention for training ---------------------------------------------

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kBlockwiseFromQueries = 256;

// One query block [t0, t0 + rows) of q [B, H, T, d] against keys [0, keys).
struct QueryBlock {
  int64_t t0, rows, keys;
};

// Keys [0, keys) hold every key a row of the block may see. A row that sees
// none gets uniform weights over all S keys (as in grouped_attention), so such
// a block keeps them all.
int64_t visible_keys(const torch::Tensor& mask, int64_t t0, int64_t rows) {
  const int64_t S = mask.size(4);
  const torch::Tensor block = mask.narrow(3, t0, rows).reshape({-1, rows, S});  // [B, rows, S]
  if (!block.any(-1).all().item<bool>()) return S;
  const torch::Tensor seen = block.any(1).any(0).nonzero();  // [n, 1]: keys some row sees
  return seen[-1][0].item<int64_t>() + 1;
}

std::vector<QueryBlock> query_blocks(const torch::Tensor& mask, int64_t block_rows) {
  std::vector<QueryBlock> blocks;
  const int64_t T = mask.size(3);
  for (int64_t t0 = 0; t0 < T; t0 += block_rows) {
    const int64_t rows = std::min(block_rows, T - t0);
    blocks.push_back({t0, rows, visible_keys(mask, t0, rows)});
  }
  return blocks;
}

// The blocks as the forward pass found them, flat (t0, rows, keys, ...), for
// the backward pass: finding a block's keys reads the mask and syncs on it.
std::vector<int64_t> flat_blocks(const std::vector<QueryBlock>& blocks) {
  std::vector<int64_t> flat;
  for (const QueryBlock& b : blocks) flat.insert(flat.end(), {b.t0, b.rows, b.keys});
  return flat;
}

std::vector<QueryBlock> unflat_blocks(const std::vector<int64_t>& flat) {
  std::vector<QueryBlock> blocks;
  for (size_t i = 0; i + 2 < flat.size(); i += 3) blocks.push_back({flat[i], flat[i + 1], flat[i + 2]});
  return blocks;
}

// True where a row of the block may not look: [B, 1, 1, rows, keys].
torch::Tensor hidden_keys(const torch::Tensor& mask, const QueryBlock& b) {
  return mask.narrow(3, b.t0, b.rows).narrow(4, 0, b.keys).logical_not();
}

// The G query heads of each KV head stacked as rows, as grouped_attention does:
// [B, H, T, d] -> [B, KVH, G·rows, d] for the block.
torch::Tensor stacked_rows(const torch::Tensor& x, const QueryBlock& b, int64_t kv_heads) {
  return x.narrow(2, b.t0, b.rows).reshape({x.size(0), kv_heads, -1, x.size(3)});
}

// The block's float32 scores [B, KVH, G, rows, keys]: q·kᵀ·scale, softcapped
// (`capped` gets tanh(x / cap) for the backward pass), -1e30 where `hidden`.
torch::Tensor block_scores(const torch::Tensor& qb, const torch::Tensor& kb, const torch::Tensor& hidden,
                           const QueryBlock& b, double scale, double softcap, torch::Tensor* capped) {
  const int64_t B = qb.size(0), KVH = qb.size(1);
  torch::Tensor s = torch::matmul(qb, kb.transpose(-1, -2)).to(torch::kFloat32).mul_(scale);
  if (softcap > 0) {
    torch::Tensor t = torch::tanh(s / softcap);
    s = t * softcap;
    if (capped) *capped = t.view({B, KVH, -1, b.rows, b.keys});
  }
  return s.view({B, KVH, -1, b.rows, b.keys}).masked_fill_(hidden, -1e30);
}

struct BlockwiseAttention : public torch::autograd::Function<BlockwiseAttention> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const torch::Tensor& mask, double scale, double softcap,
                               int64_t block_rows) {
    const int64_t B = q.size(0), H = q.size(1), T = q.size(2), KVH = k.size(1);
    torch::Tensor out = torch::empty_like(q, at::MemoryFormat::Contiguous);
    // Each row's max score and sum of exp(score - max): the backward pass
    // recomputes the weights from them. (Not one log-sum-exp: in float32 it
    // would lose the log S of a row that sees no key, whose scores are all -1e30.)
    torch::Tensor row_max = torch::empty({B, KVH, H / KVH, T}, q.options().dtype(torch::kFloat32));
    torch::Tensor row_sum = torch::empty_like(row_max);
    const std::vector<QueryBlock> blocks = query_blocks(mask, block_rows);
    for (const QueryBlock& b : blocks) {
      const torch::Tensor kb = k.narrow(2, 0, b.keys), vb = v.narrow(2, 0, b.keys);
      const torch::Tensor s =
          block_scores(stacked_rows(q, b, KVH), kb, hidden_keys(mask, b), b, scale, softcap, nullptr);
      const torch::Tensor m = s.amax(-1, true);
      torch::Tensor p = s.sub_(m).exp_();
      const torch::Tensor l = p.sum(-1, true);
      p = p.div_(l).to(q.scalar_type());
      const torch::Tensor ob = torch::matmul(p.view({B, KVH, -1, b.keys}), vb);  // [B, KVH, G·rows, d]
      out.narrow(2, b.t0, b.rows).copy_(ob.view({B, H, b.rows, -1}));
      row_max.narrow(3, b.t0, b.rows).copy_(m.squeeze(-1));
      row_sum.narrow(3, b.t0, b.rows).copy_(l.squeeze(-1));
    }
    ctx->save_for_backward({q, k, v, mask, out, row_max, row_sum});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["softcap"] = softcap;
    ctx->saved_data["blocks"] = flat_blocks(blocks);
    return out;
  }

  // Per block, with P the recomputed weights and dO the output's gradient:
  // dV += Pᵀ·dO, dS = P ⊙ (dO·Vᵀ − rowsum(dO ⊙ O)) (zero where masked, times
  // 1 − tanh² under a softcap, times scale), dQ = dS·K, dK += dSᵀ·Q.
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &mask = saved[3], &out = saved[4],
                        &row_max = saved[5], &row_sum = saved[6];
    const double scale = ctx->saved_data["scale"].toDouble(), softcap = ctx->saved_data["softcap"].toDouble();
    const int64_t B = q.size(0), H = q.size(1), KVH = k.size(1);
    const torch::Tensor d_out = grads[0].to(q.scalar_type());
    const torch::Tensor row_dot = (d_out.to(torch::kFloat32) * out.to(torch::kFloat32)).sum(-1).view(row_max.sizes());
    torch::Tensor dq = torch::empty_like(q, at::MemoryFormat::Contiguous), dk = torch::zeros_like(k),
                  dv = torch::zeros_like(v);
    for (const QueryBlock& b : unflat_blocks(ctx->saved_data["blocks"].toIntVector())) {
      const torch::Tensor qb = stacked_rows(q, b, KVH), kb = k.narrow(2, 0, b.keys), vb = v.narrow(2, 0, b.keys);
      const torch::Tensor dob = stacked_rows(d_out, b, KVH), hidden = hidden_keys(mask, b);
      torch::Tensor capped;
      const torch::Tensor s = block_scores(qb, kb, hidden, b, scale, softcap, &capped);
      const torch::Tensor p = s.sub_(row_max.narrow(3, b.t0, b.rows).unsqueeze(-1))
                                  .exp_()
                                  .div_(row_sum.narrow(3, b.t0, b.rows).unsqueeze(-1));  // [B, KVH, G, rows, keys]
      dv.narrow(2, 0, b.keys).add_(torch::matmul(p.view({B, KVH, -1, b.keys}).to(q.scalar_type()).transpose(-1, -2), dob));
      torch::Tensor ds = torch::matmul(dob, vb.transpose(-1, -2)).to(torch::kFloat32).view(p.sizes());
      ds.sub_(row_dot.narrow(3, b.t0, b.rows).unsqueeze(-1)).mul_(p);
      ds.masked_fill_(hidden, 0.0);
      if (softcap > 0) ds.mul_(1 - capped * capped);
      const torch::Tensor dsb = ds.mul_(scale).view({B, KVH, -1, b.keys}).to(q.scalar_type());
      dq.narrow(2, b.t0, b.rows).copy_(torch::matmul(dsb, kb).view({B, H, b.rows, -1}));
      dk.narrow(2, 0, b.keys).add_(torch::matmul(dsb.transpose(-1, -2), qb));
    }
    return {dq, dk, dv, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// ---- kernel setting --------------------------------------------------------------

CausalAttentionKernel initial_kernel() {
  const char* env = std::getenv("E2LLM_DECODER_ATTENTION");
  if (!env || !*env) return CausalAttentionKernel::kAuto;
  const std::string name = env;
  if (name == "auto") return CausalAttentionKernel::kAuto;
  if (name == "reference") return CausalAttentionKernel::kReference;
  if (name == "portable") return CausalAttentionKernel::kPortable;
  if (name == "avx2") return CausalAttentionKernel::kAvx2;
  fail("E2LLM_DECODER_ATTENTION='{}': expected auto, reference, portable or avx2", name);
}

std::atomic<CausalAttentionKernel>& kernel_setting() {
  static std::atomic<CausalAttentionKernel> kernel{initial_kernel()};
  return kernel;
}

bool avx2_applies(int64_t head_dim) { return avx2::cpu_supported() && head_dim % 8 == 0; }

// ---- fused kernel: shared parts ------------------------------------------------------

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr int64_t kKeys = 16;     // keys per packed block of K (two 8-float vectors)
constexpr int64_t kTile = 64;     // keys per online-softmax step: amortises the rescaling of acc
constexpr int64_t kRows = 6;      // query rows per AVX2 score block
constexpr int64_t kQueries = 32;  // query positions per task (times G rows)
constexpr int64_t kInPlaceQueries = 2;  // at most this many query positions read K in place
constexpr int64_t kSplitKeys = 256;     // decoding: fewest keys per range of a split task (decode_split)

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

inline float to_float(uint16_t half_bits) { return static_cast<float>(c10::Half(half_bits, c10::Half::from_bits())); }

// One call's inputs, shared read-only by all tasks. Strides in elements. K and
// V are float32, or float16 (a float16 KV cache while decoding on AVX2:
// converted as loaded).
struct Problem {
  const float* q;  // [B, H, T, d]
  int64_t q_b, q_h, q_t;
  const void* v;   // [B, KVH, S, d]
  int64_t v_b, v_h, v_s;
  const float* kt;  // per (b, kv head) K transposed in blocks, [S16 / 16][d][16], zero past S; null: read k
  const void* k;    // [B, KVH, S, d], read in place when kt is null (decoding, AVX2 only)
  int64_t k_b, k_h, k_s;
  bool half_kv;     // K and V hold float16 bits (uint16_t), else float
  float* out;       // [B, T, H, d]
  const bool* kv_valid;    // [B, S]
  const int64_t* kv_pos;   // [B, S]
  const int64_t* q_pos;    // [B, T]
  int64_t B, H, KVH, G, T, S, S16, d, start;
  std::optional<int64_t> window;
  float scale;
  std::optional<float> softcap;
  bool avx2;
};

struct Scratch {
  std::vector<float> q;      // [R][d]: scaled queries, zero in the padding rows
  std::vector<float> acc;    // [R][d]: unnormalised outputs
  std::vector<float> p;      // [R][kTile]: scores, then weights
  std::vector<float> bias;   // [kQueries][kTile]: 0 where visible, -inf where masked
  std::vector<float> max, sum, alpha;  // [R]: running max and sum; this tile's rescaling of acc
  std::vector<float> mean;   // [d]: mean of V, the output of a query that sees no key
};

enum class Visible { kNone, kSome, kAll };

// Which of keys [j0, j0 + width) queries [t0, t0 + n) may attend; keys from
// j0 + count on are masked (past the causal bound or the end of K). Fills
// bias (rows kTile apart) unless every query sees every key.
Visible tile_visibility(const Problem& P, int64_t b, int64_t t0, int64_t n, int64_t j0, int64_t count,
                        int64_t width, float* bias) {
  const bool* valid = P.kv_valid + b * P.S;
  const int64_t* kv_pos = P.kv_pos + b * P.S;
  const int64_t* q_pos = P.q_pos + b * P.T + t0;
  // Common case first, checked per key rather than per (query, key): the tile
  // is wholly before the first query's slot, all valid, all inside the window.
  bool all = count == width && j0 + count - 1 <= P.start + t0;
  if (all) {
    int64_t min_pos = std::numeric_limits<int64_t>::max(), max_q = std::numeric_limits<int64_t>::min();
    for (int64_t j = j0; j < j0 + count && all; ++j) all = valid[j], min_pos = std::min(min_pos, kv_pos[j]);
    for (int64_t i = 0; i < n; ++i) max_q = std::max(max_q, q_pos[i]);
    if (all && P.window) all = max_q - min_pos < *P.window;
  }
  if (all) return Visible::kAll;
  bool any = false;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t last = std::min(P.start + t0 + i, j0 + count - 1);  // last visible slot of this query
    for (int64_t jj = 0; jj < width; ++jj) {
      const int64_t j = j0 + jj;
      const bool ok = j <= last && valid[j] && (!P.window || q_pos[i] - kv_pos[j] < *P.window);
      bias[i * kTile + jj] = ok ? 0.0f : -kInf;
      any |= ok;
    }
  }
  return any ? Visible::kSome : Visible::kNone;
}

// ---- portable micro-kernels ---------------------------------------------------------

// Scores of `rows` query rows (q: [rows][d]) against `width` keys (a multiple
// of 16) of packed K, into p (rows kTile apart). The inner loop runs over 16
// keys, not over d, so the compiler vectorises it without reassociating sums.
void scores_portable(const float* q, int64_t rows, int64_t d, const float* kt, int64_t width, float* p) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t jb = 0; jb < width; jb += kKeys) {
      const float* kb = kt + jb * d;
      float acc[kKeys] = {};
      for (int64_t c = 0; c < d; ++c) {
        const float x = q[r * d + c];
        for (int64_t jj = 0; jj < kKeys; ++jj) acc[jj] += x * kb[c * kKeys + jj];
      }
      std::copy(acc, acc + kKeys, p + r * kTile + jb);
    }
  }
}

// Online softmax of one row over one tile: softcap and mask the scores, turn
// them into exp(score - new max) in place, update max and sum, and return
// exp(old max - new max), the factor that rescales what the row accumulated.
float update_row_portable(float* p, const float* bias, int64_t width, std::optional<float> softcap, float& max,
                          float& sum) {
  float new_max = max;
  for (int64_t j = 0; j < width; ++j) {
    float x = p[j];
    if (softcap) x = std::tanh(x / *softcap) * *softcap;
    if (bias) x += bias[j];
    p[j] = x;
    new_max = std::max(new_max, x);
  }
  if (new_max == -kInf) {  // nothing visible yet: no weights, nothing to rescale
    std::fill(p, p + width, 0.0f);
    return 1.0f;
  }
  float tile_sum = 0;
  for (int64_t j = 0; j < width; ++j) tile_sum += p[j] = std::exp(p[j] - new_max);
  const float alpha = std::exp(max - new_max);  // 0 while max is still -inf
  sum = sum * alpha + tile_sum;
  max = new_max;
  return alpha;
}

void accumulate_portable(const Problem& P, const float* p, const float* alpha, int64_t rows, const float* v,
                         int64_t count, float* acc) {
  for (int64_t r = 0; r < rows; ++r) {
    float* a = acc + r * P.d;
    for (int64_t c = 0; c < P.d; ++c) a[c] *= alpha[r];
    for (int64_t jj = 0; jj < count; ++jj) {
      const float w = p[r * kTile + jj];
      const float* vj = v + jj * P.v_s;
      for (int64_t c = 0; c < P.d; ++c) a[c] += w * vj[c];
    }
  }
}

// ---- AVX2 micro-kernels -------------------------------------------------------------

using avx2::exp_nonpositive;
using avx2::horizontal_max;
using avx2::horizontal_sum;

// tanh(x) = sign(x)·(1 - e)/(1 + e) with e = exp(-2|x|) <= 1.
E2LLM_AVX2 inline __m256 tanh_avx2(__m256 x) {
  const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
  const __m256 e = exp_nonpositive(_mm256_mul_ps(_mm256_andnot_ps(sign, x), _mm256_set1_ps(-2.0f)));
  const __m256 t = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
  return _mm256_or_ps(t, _mm256_and_ps(sign, x));
}

// Scores of kRows query rows (q: [kRows][d]) against one block of 16 keys (kb:
// [d][16]) into p (rows kTile apart).
E2LLM_AVX2 void score_block(const float* q, int64_t d, const float* kb, float* p) {
  static_assert(kRows == avx2::kScoreRows && kKeys == avx2::kScoreKeys);
  __m256 lo[kRows], hi[kRows];
  avx2::scores_6x16(q, d, kb, lo, hi);
#pragma GCC unroll 6
  for (int r = 0; r < kRows; ++r) {
    _mm256_storeu_ps(p + r * kTile, lo[r]);
    _mm256_storeu_ps(p + r * kTile + 8, hi[r]);
  }
}

// All R rows (a multiple of kRows) against `width` keys of packed K. Each
// 16-key block (4 KB at d = 64) stays in L1 while every row group uses it.
E2LLM_AVX2 void scores_avx2(const float* q, int64_t rows, int64_t d, const float* kt, int64_t width, float* p) {
  for (int64_t jb = 0; jb < width; jb += kKeys)
    for (int64_t r = 0; r < rows; r += kRows) score_block(q + r * d, d, kt + jb * d, p + r * kTile + jb);
}

// Scores of `rows` query rows (q: [rows][d]) against `count` keys read where
// they lie (rows k_s apart), into p (rows kTile apart) up to the next multiple
// of 8; the scores past count repeat the last key's, and the caller masks them.
// For decoding: a query block of a few rows reads each key once or twice, so
// packing the whole cache (pack_keys) would cost more than the scores.
template <typename K>
E2LLM_AVX2 void scores_in_place_avx2(const float* q, int64_t rows, int64_t d, const K* k, int64_t k_s,
                                     int64_t count, float* p) {
  for (int64_t j0 = 0; j0 < count; j0 += 8) {
    const K* key[8];
    for (int64_t jj = 0; jj < 8; ++jj) key[jj] = k + std::min(j0 + jj, count - 1) * k_s;
    for (int64_t r = 0; r < rows; ++r) {
      __m256 acc[8];
#pragma GCC unroll 8
      for (int jj = 0; jj < 8; ++jj) acc[jj] = _mm256_setzero_ps();
      for (int64_t c = 0; c < d; c += 8) {
        const __m256 x = _mm256_loadu_ps(q + r * d + c);
#pragma GCC unroll 8
        for (int jj = 0; jj < 8; ++jj) acc[jj] = _mm256_fmadd_ps(x, avx2::load8(key[jj] + c), acc[jj]);
      }
      _mm256_storeu_ps(p + r * kTile + j0, avx2::horizontal_sums(acc));
    }
  }
}

// update_row_portable with vectors; width is a multiple of 8.
E2LLM_AVX2 float update_row_avx2(float* p, const float* bias, int64_t width, std::optional<float> softcap,
                                 float& max, float& sum) {
  const __m256 cap = _mm256_set1_ps(softcap.value_or(1.0f));
  __m256 vmax = _mm256_set1_ps(max);
  for (int64_t j = 0; j < width; j += 8) {
    __m256 x = _mm256_loadu_ps(p + j);
    if (softcap) x = _mm256_mul_ps(tanh_avx2(_mm256_div_ps(x, cap)), cap);
    if (bias) x = _mm256_add_ps(x, _mm256_loadu_ps(bias + j));
    _mm256_storeu_ps(p + j, x);
    vmax = _mm256_max_ps(vmax, x);
  }
  const float new_max = horizontal_max(vmax);
  if (new_max == -kInf) {
    std::fill(p, p + width, 0.0f);
    return 1.0f;
  }
  const __m256 m = _mm256_set1_ps(new_max);
  __m256 vsum = _mm256_setzero_ps();
  for (int64_t j = 0; j < width; j += 8) {
    const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(p + j), m));
    _mm256_storeu_ps(p + j, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  const float alpha = std::exp(max - new_max);
  sum = sum * alpha + horizontal_sum(vsum);
  max = new_max;
  return alpha;
}

// All R rows (a multiple of 3), d a multiple of 8.
template <typename V>
E2LLM_AVX2 void accumulate_avx2(const Problem& P, const float* p, const float* alpha, int64_t rows, const V* v,
                                int64_t count, float* acc) {
  for (int64_t r = 0; r < rows; r += 3)
    avx2::accumulate_rows(p + r * kTile, kTile, alpha + r, v, P.v_s, P.d, count, acc + r * P.d, P.d);
}

// ---- fused kernel: one task ------------------------------------------------------------

// Rows of the AVX2 micro-kernels: 6 per packed score block, 3 per value pass.
int64_t padded_rows(const Problem& P, int64_t rows) {
  return !P.avx2 ? rows : P.kt ? round_up(rows, kRows) : round_up(rows, 3);
}

// Starts queries [t0, t0 + n) of every head of KV head h in sequence b: scaled
// queries in, no key seen yet.
void begin_rows(const Problem& P, int64_t b, int64_t h, int64_t t0, int64_t n, Scratch& s) {
  const int64_t rows = P.G * n, R = padded_rows(P, rows), d = P.d;
  s.q.assign(static_cast<size_t>(R * d), 0.0f);
  s.acc.assign(static_cast<size_t>(R * d), 0.0f);
  s.p.assign(static_cast<size_t>(R * kTile), 0.0f);  // padding rows keep zero weights
  s.bias.resize(static_cast<size_t>(kQueries * kTile));
  s.max.assign(static_cast<size_t>(R), -kInf);
  s.sum.assign(static_cast<size_t>(R), 0.0f);
  s.alpha.assign(static_cast<size_t>(R), 1.0f);
  for (int64_t g = 0; g < P.G; ++g) {
    for (int64_t i = 0; i < n; ++i) {
      const float* src = P.q + b * P.q_b + (h * P.G + g) * P.q_h + (t0 + i) * P.q_t;
      float* dst = s.q.data() + (g * n + i) * d;
      for (int64_t c = 0; c < d; ++c) dst[c] = src[c] * P.scale;
    }
  }
}

// Those rows meet keys [j_begin, j_end) (j_begin a multiple of kTile): the
// online softmax's running max, sum and unnormalised output in `s`. KV is
// K's and V's element type (float, or uint16_t for float16 on AVX2).
template <typename KV>
void attend_typed(const Problem& P, int64_t b, int64_t h, int64_t t0, int64_t n, int64_t j_begin, int64_t j_end,
                  Scratch& s) {
  const int64_t rows = P.G * n, R = padded_rows(P, rows), d = P.d;
  const KV* v = static_cast<const KV*>(P.v) + b * P.v_b + h * P.v_h;
  const float* kt = P.kt ? P.kt + (b * P.KVH + h) * P.S16 * d : nullptr;
  const KV* k = static_cast<const KV*>(P.k) + b * P.k_b + h * P.k_h;
  // Keys past the last query's causal bound are visible to no query here.
  const int64_t end = std::min({j_end, P.S, P.start + t0 + n});
  for (int64_t j0 = j_begin; j0 < end; j0 += kTile) {
    const int64_t count = std::min(kTile, end - j0), width = round_up(count, 8);  // scores past count are masked
    const Visible visible = tile_visibility(P, b, t0, n, j0, count, width, s.bias.data());
    if (visible == Visible::kNone) continue;
    float* p = s.p.data();
    if (!kt) {
      scores_in_place_avx2(s.q.data(), rows, d, k + j0 * P.k_s, P.k_s, count, p);
    } else if (P.avx2) {
      scores_avx2(s.q.data(), R, d, kt + j0 * d, round_up(count, kKeys), p);
    } else {
      scores_portable(s.q.data(), rows, d, kt + j0 * d, round_up(count, kKeys), p);
    }
    for (int64_t r = 0; r < rows; ++r) {
      const float* bias = visible == Visible::kSome ? s.bias.data() + (r % n) * kTile : nullptr;
      s.alpha[r] = P.avx2 ? update_row_avx2(p + r * kTile, bias, width, P.softcap, s.max[r], s.sum[r])
                          : update_row_portable(p + r * kTile, bias, width, P.softcap, s.max[r], s.sum[r]);
    }
    if (P.avx2) {
      // The padding rows' scores are junk; their weights must stay zero.
      std::fill(p + rows * kTile, p + R * kTile, 0.0f);
      accumulate_avx2(P, p, s.alpha.data(), R, v + j0 * P.v_s, count, s.acc.data());
    } else if constexpr (std::is_same_v<KV, float>) {
      accumulate_portable(P, p, s.alpha.data(), rows, v + j0 * P.v_s, count, s.acc.data());
    }
  }
}

void attend(const Problem& P, int64_t b, int64_t h, int64_t t0, int64_t n, int64_t j_begin, int64_t j_end,
            Scratch& s) {
  if (P.half_kv) return attend_typed<uint16_t>(P, b, h, t0, n, j_begin, j_end, s);
  attend_typed<float>(P, b, h, t0, n, j_begin, j_end, s);
}

// Normalises those rows into the output. A row that saw no key (padding) gets
// the reference's uniform weights over all S keys.
void finish_rows(const Problem& P, int64_t b, int64_t h, int64_t t0, int64_t n, Scratch& s) {
  const int64_t d = P.d, v_offset = b * P.v_b + h * P.v_h;
  auto v = [&](int64_t i) {
    return P.half_kv ? to_float(static_cast<const uint16_t*>(P.v)[v_offset + i])
                     : static_cast<const float*>(P.v)[v_offset + i];
  };
  bool mean_ready = false;
  for (int64_t g = 0; g < P.G; ++g) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = g * n + i;
      float* out = P.out + ((b * P.T + t0 + i) * P.H + h * P.G + g) * d;
      if (s.sum[r] > 0) {
        const float inv = 1.0f / s.sum[r];
        for (int64_t c = 0; c < d; ++c) out[c] = s.acc[r * d + c] * inv;
        continue;
      }
      if (!mean_ready) {
        s.mean.assign(static_cast<size_t>(d), 0.0f);
        for (int64_t j = 0; j < P.S; ++j)
          for (int64_t c = 0; c < d; ++c) s.mean[c] += v(j * P.v_s + c);
        for (float& x : s.mean) x /= static_cast<float>(P.S);
        mean_ready = true;
      }
      std::copy(s.mean.begin(), s.mean.end(), out);
    }
  }
}

// Queries [t0, t1) of every head of KV head h in sequence b, against all their keys.
void query_block(const Problem& P, int64_t b, int64_t h, int64_t t0, int64_t t1, Scratch& s) {
  begin_rows(P, b, h, t0, t1 - t0, s);
  attend(P, b, h, t0, t1 - t0, 0, P.S, s);
  finish_rows(P, b, h, t0, t1 - t0, s);
}

// Key ranges per (sequence, KV head) for decoding: about four tasks a thread,
// none shorter than kSplitKeys keys (a merge costs more than a short range
// saves), and one range on one thread.
int64_t decode_splits(int64_t sequence_heads, int64_t S) {
  const int64_t threads = at::get_num_threads();
  if (threads <= 1) return 1;
  const int64_t wanted = (4 * threads + sequence_heads - 1) / sequence_heads;
  return std::clamp<int64_t>(wanted, 1, std::max<int64_t>(1, S / kSplitKeys));
}

// Decoding: each sequence's few queries in one task per KV head would leave
// threads idle (SmolLM2 has 3 KV heads) and read a long cache through one
// core. So the keys are split into `splits` ranges of whole tiles, each range
// one task, and the partial softmaxes merged: rescaled to their common max,
// sums and outputs add up (as flash-decoding does).
void decode_split(const Problem& P, int64_t splits) {
  const int64_t n = P.T, rows = P.G * n, R = padded_rows(P, rows), d = P.d;
  const int64_t keys_per_split = round_up((P.S + splits - 1) / splits, kTile);
  const int64_t tasks = P.B * P.KVH * splits;
  std::vector<float> max(static_cast<size_t>(tasks * R)), sum(max.size()), acc(static_cast<size_t>(tasks * R * d));
  at::parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
    thread_local Scratch scratch;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t bh = task / splits, split = task % splits;
      begin_rows(P, bh / P.KVH, bh % P.KVH, 0, n, scratch);
      attend(P, bh / P.KVH, bh % P.KVH, 0, n, split * keys_per_split, (split + 1) * keys_per_split, scratch);
      std::copy_n(scratch.max.begin(), R, max.begin() + task * R);
      std::copy_n(scratch.sum.begin(), R, sum.begin() + task * R);
      std::copy_n(scratch.acc.begin(), R * d, acc.begin() + task * R * d);
    }
  });
  Scratch merged;
  for (int64_t bh = 0; bh < P.B * P.KVH; ++bh) {
    merged.sum.assign(static_cast<size_t>(R), 0.0f);
    merged.acc.assign(static_cast<size_t>(R * d), 0.0f);
    for (int64_t r = 0; r < rows; ++r) {
      float top = -kInf;
      for (int64_t split = 0; split < splits; ++split) top = std::max(top, max[(bh * splits + split) * R + r]);
      if (top == -kInf) continue;  // no key visible in any range: finish_rows' padding case
      for (int64_t split = 0; split < splits; ++split) {
        const int64_t at = (bh * splits + split) * R + r;
        if (sum[at] == 0) continue;
        const float w = std::exp(max[at] - top);
        merged.sum[r] += sum[at] * w;
        for (int64_t c = 0; c < d; ++c) merged.acc[r * d + c] += acc[at * d + c] * w;
      }
    }
    finish_rows(P, bh / P.KVH, bh % P.KVH, 0, n, merged);
  }
}

// K of every (sequence, KV head) transposed in blocks of 16 keys ([S16/16][d][16], zero past S), so
// that the score micro-kernel reads two vectors of 16 keys per dimension.
torch::Tensor pack_keys(const torch::Tensor& kf, int64_t S16) {
  const int64_t B = kf.size(0), KVH = kf.size(1), S = kf.size(2), d = kf.size(3), blocks = S16 / kKeys;
  torch::Tensor kt = torch::empty({B * KVH * S16 * d}, kf.options());
  const float* k = kf.data_ptr<float>();
  const int64_t k_b = kf.stride(0), k_h = kf.stride(1), k_s = kf.stride(2);
  float* out = kt.data_ptr<float>();
  at::parallel_for(0, B * KVH * blocks, 16, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t bh = task / blocks, jb = task % blocks;
      const float* src = k + (bh / KVH) * k_b + (bh % KVH) * k_h;
      float* dst = out + task * d * kKeys;
      for (int64_t jj = 0; jj < kKeys; ++jj) {
        const int64_t j = jb * kKeys + jj;
        for (int64_t c = 0; c < d; ++c) dst[c * kKeys + jj] = j < S ? src[j * k_s + c] : 0.0f;
      }
    }
  });
  return kt;
}

}  // namespace

// ---- entry points ----------------------------------------------------------------------

torch::Tensor blockwise_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                  const torch::Tensor& mask, double scale, const std::optional<double>& softcap,
                                  int64_t block_rows) {
  E2LLM_CHECK(q.dim() == 4 && k.dim() == 4 && v.sizes() == k.sizes() && q.size(1) % k.size(1) == 0 &&
                  mask.dim() == 5 && mask.size(3) == q.size(2) && mask.size(4) == k.size(2) && block_rows > 0,
              "blockwise attention: q [B, H, T, d], k and v [B, KVH, S, d], mask [B, 1, 1, T, S]");
  return BlockwiseAttention::apply(q, k, v, mask.to(torch::kBool), scale, softcap.value_or(0.0), block_rows);
}

bool use_blockwise_attention(const torch::Tensor& q) {
  return q.device().is_cpu() && q.size(2) > kBlockwiseFromQueries &&
         causal_attention_kernel() != CausalAttentionKernel::kReference;
}

void set_causal_attention_kernel(CausalAttentionKernel kernel) { kernel_setting().store(kernel); }
CausalAttentionKernel causal_attention_kernel() { return kernel_setting().load(); }

bool use_fused_causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  const CausalAttentionKernel kernel = causal_attention_kernel();
  if (kernel == CausalAttentionKernel::kReference || !q.device().is_cpu() || q.numel() == 0) return false;
  if (torch::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad())) return false;
  // Measured (docs/decoder.md, SmolLM2 shapes, 2 threads): the AVX2 kernel is
  // faster than ATen at every length, decode steps included (1.0-3× at T = 1,
  // 5-7× for prefills); the portable one (SSE2 code) is slower than ATen's
  // BLAS, so kAuto leaves CPUs without AVX2 on the reference.
  return kernel != CausalAttentionKernel::kAuto || avx2_applies(q.size(3));
}

torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const CausalMask& m, double scale, const std::optional<double>& softcap) {
  E2LLM_CHECK(q.dim() == 4 && k.dim() == 4 && v.sizes() == k.sizes() && k.size(0) == q.size(0) &&
                  k.size(3) == q.size(3) && k.size(1) > 0 && q.size(1) % k.size(1) == 0,
              "causal attention: q [B, H, T, d] and k, v [B, KVH, S, d] with H a multiple of KVH");
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), d = q.size(3), KVH = k.size(1), S = k.size(2);
  E2LLM_CHECK(m.defined() && m.kv_valid.dim() == 2 && m.kv_valid.size(0) == B && m.kv_valid.size(1) == S &&
                  m.kv_pos.sizes() == m.kv_valid.sizes() && m.q_pos.dim() == 2 && m.q_pos.size(0) == B &&
                  m.q_pos.size(1) == T && m.start >= 0 && m.start + T <= S,
              "causal attention: mask of [B, S] keys, [B, T] queries and start + T <= S for B={} T={} S={} start={}",
              B, T, S, m.start);
  E2LLM_CHECK(q.device().is_cpu() && k.device().is_cpu() && v.device().is_cpu(),
              "causal attention: the fused kernel runs on the CPU only");
  if (q.numel() == 0) return torch::empty_like(q);
  const CausalAttentionKernel kernel = causal_attention_kernel();
  const bool avx2 = kernel != CausalAttentionKernel::kPortable && avx2_applies(d);

  auto as_float = [](const torch::Tensor& x) {
    torch::Tensor y = as_type(x, torch::kFloat32);
    return y.stride(-1) == 1 ? y : y.contiguous();
  };
  // Decoding (a query or two per sequence) reads K in place; longer blocks pack
  // it once for the 6-row score kernel. Measured in docs/decoder.md.
  const bool keys_in_place = avx2 && T <= kInPlaceQueries;
  // Decoding also reads a float16 cache as it lies (converted as loaded). A
  // prefill reads each key and value once per query block, so it converts the
  // cache to float32 once instead (faster, measured in docs/decoder.md).
  const bool half_kv = keys_in_place && k.scalar_type() == torch::kHalf && v.scalar_type() == torch::kHalf &&
                       k.stride(-1) == 1 && v.stride(-1) == 1;
  const torch::Tensor qf = as_float(q), kf = half_kv ? k : as_float(k), vf = half_kv ? v : as_float(v);
  const torch::Tensor kv_valid = as_cpu_type(m.kv_valid, torch::kBool).contiguous();
  const torch::Tensor kv_pos = as_cpu_type(m.kv_pos, torch::kInt64).contiguous();
  const torch::Tensor q_pos = as_cpu_type(m.q_pos, torch::kInt64).contiguous();
  const int64_t S16 = round_up(S, kKeys);
  const torch::Tensor kt = keys_in_place ? torch::Tensor() : pack_keys(kf, S16);
  // [B, T, H, d]: the caller's transpose back to [B, T, H·d] is then a view.
  torch::Tensor out = torch::empty({B, T, H, d}, qf.options());

  Problem P{};
  P.q = qf.data_ptr<float>(), P.q_b = qf.stride(0), P.q_h = qf.stride(1), P.q_t = qf.stride(2);
  P.v = vf.data_ptr(), P.v_b = vf.stride(0), P.v_h = vf.stride(1), P.v_s = vf.stride(2);
  P.kt = keys_in_place ? nullptr : kt.data_ptr<float>();
  P.k = kf.data_ptr(), P.k_b = kf.stride(0), P.k_h = kf.stride(1), P.k_s = kf.stride(2);
  P.half_kv = half_kv;
  P.out = out.data_ptr<float>();
  P.kv_valid = kv_valid.data_ptr<bool>(), P.kv_pos = kv_pos.data_ptr<int64_t>(), P.q_pos = q_pos.data_ptr<int64_t>();
  P.B = B, P.H = H, P.KVH = KVH, P.G = H / KVH, P.T = T, P.S = S, P.S16 = S16, P.d = d, P.start = m.start;
  P.window = m.window;
  P.scale = static_cast<float>(scale);
  if (softcap) P.softcap = static_cast<float>(*softcap);
  P.avx2 = avx2;

  if (const int64_t splits = keys_in_place ? decode_splits(B * KVH, S) : 1; splits > 1) {
    decode_split(P, splits);
    return as_type(out, q.scalar_type()).transpose(1, 2);
  }
  // Later query blocks see more keys. at::parallel_for hands each thread one
  // contiguous range of tasks, so a task pairs block i with block
  // blocks-1-i: every task then costs about the same.
  const int64_t blocks = (T + kQueries - 1) / kQueries, pairs = (blocks + 1) / 2;
  at::parallel_for(0, B * KVH * pairs, 1, [&](int64_t begin, int64_t end) {
    thread_local Scratch scratch;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / (KVH * pairs), h = task / pairs % KVH, pair = task % pairs;
      const auto run = [&](int64_t block) {
        query_block(P, b, h, block * kQueries, std::min(T, (block + 1) * kQueries), scratch);
      };
      run(pair);
      if (blocks - 1 - pair != pair) run(blocks - 1 - pair);  // an odd count's middle block has no partner
    }
  });
  return as_type(out, q.scalar_type()).transpose(1, 2);
}

}  // namespace e2llm::detail
