// Test fixtures, not part of the product: small random encoders and decoders
// written in exactly Hugging Face's on-disk layout (config.json +
// model.safetensors, HF tensor names, float32), so tests and benchmarks get a
// model of any family without shipping one.
#pragma once

#include <cstdint>
#include <string>

#include "e2llm/decoder/decoder_config.h"
#include "e2llm/encoder/encoder_config.h"

namespace e2llm {

// `transformers` loads it with no missing or unexpected keys (GTE through its
// NewModel code).
void write_random_encoder(const std::string& folder, const EncoderConfig& config, uint64_t seed = 0);
// A tiny config of a family: hidden 32, 2 layers, 4 heads, vocab 128, intermediate 64.
EncoderConfig tiny_encoder_config(EncoderFamily family);

void write_random_decoder(const std::string& folder, const DecoderConfig& config, uint64_t seed = 0);
// A tiny config of a family (hidden 64, 2 layers, vocab 256 unless changed).
DecoderConfig tiny_decoder_config(DecoderFamily family);

}  // namespace e2llm
