#include "e2llm/encoder/encoder.h"

#include <algorithm>
#include <numeric>

#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "encoder/encoder_internal.h"

namespace e2llm {

std::shared_ptr<EncoderModel> make_encoder_model(const EncoderConfig& config, const Weights& weights,
                                                 const EncoderOptions& options) {
  E2LLM_CHECK(options.dtype == torch::kFloat32 || options.dtype == torch::kBFloat16,
              "encoder dtype must be float32 or bfloat16, got {}", c10::toString(options.dtype));
  nn::WeightLoader loader(weights, options.dtype, options.device, encoder_detail::detect_prefix(weights));
  if (config.family == EncoderFamily::kGte) return encoder_detail::make_gte(config, loader);
  return encoder_detail::make_bert(config, loader);
}

std::vector<std::vector<size_t>> plan_batches(const std::vector<int64_t>& lengths,
                                              const BatchingOptions& options) {
  E2LLM_CHECK(options.max_batch_tokens > 0 && options.max_batch_size > 0,
              "max_batch_tokens ({}) and max_batch_size ({}) must be positive", options.max_batch_tokens,
              options.max_batch_size);
  std::vector<size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return lengths[a] > lengths[b]; });
  std::vector<std::vector<size_t>> batches;
  int64_t padded_length = 0;
  for (size_t index : order) {
    // Longest first: the batch's first chunk fixes its padded length.
    const bool fits = !batches.empty() &&
                      static_cast<int64_t>(batches.back().size()) < options.max_batch_size &&
                      (static_cast<int64_t>(batches.back().size()) + 1) * padded_length <= options.max_batch_tokens;
    if (!fits) {
      batches.emplace_back();
      padded_length = std::max<int64_t>(lengths[index], 1);
    }
    batches.back().push_back(index);
  }
  return batches;
}

TextEncoder::TextEncoder(EncoderConfig config, std::shared_ptr<EncoderModel> model, EncoderOptions options)
    : config_(std::move(config)), model_(std::move(model)), options_(options) {
  E2LLM_CHECK(model_ != nullptr, "TextEncoder needs a model");
}

TextEncoder TextEncoder::load(const std::string& folder, const EncoderOptions& options) {
  E2LLM_CHECK(is_directory(folder), "{}: expected a model folder (config.json + model.safetensors)", folder);
  EncoderConfig config = EncoderConfig::load(folder + "/config.json");
  auto weights = open_weights(folder);
  auto model = make_encoder_model(config, *weights, options);
  TextEncoder encoder(std::move(config), std::move(model), options);
  encoder.default_pooling_ = read_sentence_transformers_pooling(folder);
  return encoder;
}

int64_t TextEncoder::max_tokens() const {
  // A learned table has max_position_embeddings rows, of which XLM-R's first
  // pad_token_id + 1 are never a token's; RoPE has no table but the model was
  // configured (and trained) for max_position_embeddings positions.
  return config_.max_position_embeddings - config_.position_offset();
}

torch::Tensor TextEncoder::forward(const torch::Tensor& ids, const torch::Tensor& mask) {
  E2LLM_CHECK(ids.dim() == 2 && mask.sizes() == ids.sizes(),
              "encoder input: ids [B, T] and mask of the same shape expected, got [{}] and [{}]",
              fmt::join(ids.sizes(), ", "), fmt::join(mask.sizes(), ", "));
  E2LLM_CHECK(ids.size(1) <= max_tokens(),
              "encoder input of {} tokens exceeds the model's {} positions", ids.size(1), max_tokens());
  return model_->forward(ids.to(options_.device, torch::kLong), mask.to(options_.device));
}

std::pair<torch::Tensor, torch::Tensor> TextEncoder::pad_batch(const std::vector<std::vector<int64_t>>& chunks,
                                                               const std::vector<size_t>& which) const {
  size_t length = 0;
  for (size_t i : which) length = std::max(length, chunks[i].size());
  const int64_t b = static_cast<int64_t>(which.size()), t = static_cast<int64_t>(length);
  torch::Tensor ids = torch::full({b, t}, config_.pad_token_id, torch::kLong);
  torch::Tensor mask = torch::zeros({b, t}, torch::kLong);
  auto ids_a = ids.accessor<int64_t, 2>();
  auto mask_a = mask.accessor<int64_t, 2>();
  for (int64_t row = 0; row < b; ++row) {
    const auto& chunk = chunks[which[row]];
    for (size_t col = 0; col < chunk.size(); ++col) {
      ids_a[row][col] = chunk[col];
      mask_a[row][col] = 1;
    }
  }
  return {ids.to(options_.device), mask.to(options_.device)};
}

torch::Tensor TextEncoder::encode_tokens(const std::vector<std::vector<int64_t>>& chunks, Pooler& pooler,
                                         const BatchingOptions& batching) {
  E2LLM_CHECK(pooler->hidden_size() == hidden_size(), "pooler hidden size {} != encoder hidden size {}",
              pooler->hidden_size(), hidden_size());
  std::vector<int64_t> lengths;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const auto& chunk = chunks[i];
    E2LLM_CHECK(!chunk.empty(), "chunk {} is empty", i);
    E2LLM_CHECK(static_cast<int64_t>(chunk.size()) <= max_tokens(),
                "chunk {} has {} tokens; the model takes at most {}", i, chunk.size(), max_tokens());
    for (int64_t id : chunk)
      E2LLM_CHECK(id >= 0 && id < config_.vocab_size, "chunk {} has token id {} outside the vocabulary (size {})",
                  i, id, config_.vocab_size);
    lengths.push_back(static_cast<int64_t>(chunk.size()));
  }
  if (chunks.empty()) return torch::zeros({0, pooler->config().k, hidden_size()});
  std::vector<torch::Tensor> pooled;
  std::vector<int64_t> order;
  for (const auto& batch : plan_batches(lengths, batching)) {
    auto [ids, mask] = pad_batch(chunks, batch);
    pooled.push_back(pooler->forward(model_->forward(ids, mask), mask));
    order.insert(order.end(), batch.begin(), batch.end());
    if (batching.after_batch) batching.after_batch(order.size(), chunks.size());
  }
  // Row r of the concatenation is chunk order[r]; invert the permutation.
  torch::Tensor inverse = torch::argsort(torch::tensor(order, torch::kLong)).to(options_.device);
  return torch::cat(pooled, 0).index_select(0, inverse.to(pooled[0].device()));
}

}  // namespace e2llm
