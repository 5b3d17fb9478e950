// One training step of the decoder as E2LLM's long stage runs it: SmolLM2-135M
// (GGUF, dequantized to fp32) frozen, LoRA rank 8 on the seven projections,
// T soft tokens (gradients flow into them, as into the adapter) followed by
// an answer of N target tokens; forward, cross-entropy on the answer, backward.
// Prints the seconds per step and the peak resident memory of this process, so
// bench/decoder_training.sh runs it once per setting, beside the same step in
// transformers + PEFT (bench/bench_decoder_training_transformers.py).
//
// The inputs are a fixed formula, the same in both programs, and LoRA's B
// starts at zero, so both must print the same loss: the check that they
// compute the same thing.
//
// Usage: bench_decoder_training --tokens T [--answer N] [--steps K] [--checkpointing 0|1]
//   The attention kernel: $E2LLM_DECODER_ATTENTION (auto = blockwise, reference = ATen).
//   The decoder's dtype: $E2LLM_BENCH_DTYPE (float32, the default, or bfloat16: the frozen
//   weights and soft tokens in bfloat16, LoRA in float32 as an E2LLM model's, the loss in float32).
//   Threads: $E2LLM_BENCH_THREADS, else every core. Model: as bench_decoder.
#include <sys/resource.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "e2llm/core/runtime.h"
#include "e2llm/decoder/decoder.h"
#include "e2llm/io/model_cache.h"
#include "e2llm/nn/lora.h"

namespace {

std::string model_path() {
  if (const char* chosen = std::getenv("E2LLM_BENCH_MODEL")) return chosen;
  return e2llm::model_cache_dir() + "/SmolLM2-135M-Instruct.Q4_1.gguf";
}

struct Settings {
  int64_t tokens = 0, answer = 64, steps = 3;
  bool checkpointing = true;
};

Settings parse(int argc, char** argv) {
  Settings s;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i];
    const int64_t value = std::atoll(argv[i + 1]);
    if (name == "--tokens") s.tokens = value;
    else if (name == "--answer") s.answer = value;
    else if (name == "--steps") s.steps = value;
    else if (name == "--checkpointing") s.checkpointing = value != 0;
    else {
      std::fprintf(stderr, "bench_decoder_training: unknown option %s\n", name.c_str());
      std::exit(2);
    }
  }
  if (s.tokens <= 0 || s.answer <= 0 || s.steps <= 0 || (argc - 1) % 2 != 0) {
    std::fprintf(stderr, "usage: bench_decoder_training --tokens T [--answer N] [--steps K] [--checkpointing 0|1]\n");
    std::exit(2);
  }
  return s;
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

}  // namespace

int main(int argc, char** argv) {
  const Settings s = parse(argc, argv);
  const char* threads = std::getenv("E2LLM_BENCH_THREADS");
  e2llm::set_threads(threads ? std::atoi(threads) : 0);

  const char* chosen_dtype = std::getenv("E2LLM_BENCH_DTYPE");
  const std::string dtype = chosen_dtype ? chosen_dtype : "float32";
  e2llm::DecoderOptions options = e2llm::decoder_options_for(dtype, model_path());
  options.activation_checkpointing = s.checkpointing;
  e2llm::CausalLM lm = e2llm::load_causal_lm(model_path(), options);
  for (auto& p : lm->parameters()) p.requires_grad_(false);
  e2llm::nn::LoraConfig lora;
  lora.rank = 8;
  lora.alpha = 16;
  lora.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  e2llm::nn::apply_lora(*lm, lora);
  lm->train();

  // The shared formula (bench_decoder_training_transformers.py): soft token t,
  // feature j = 0.02·sin(0.37·t + 0.11·j); answer token i = (i·7919 + 13) mod vocab.
  const int64_t hidden = lm->hidden_size();
  const torch::Tensor t = torch::arange(s.tokens, torch::kFloat32).unsqueeze(1);
  const torch::Tensor j = torch::arange(hidden, torch::kFloat32).unsqueeze(0);
  const torch::Tensor soft = (0.37 * t + 0.11 * j).sin() * 0.02;
  const torch::Tensor answer = (torch::arange(s.answer, torch::kInt64) * 7919 + 13).remainder(lm->vocab_size());

  double seconds = 0;
  float loss_value = 0;
  for (int64_t step = 0; step <= s.steps; ++step) {  // step 0 warms up and is not counted
    const auto start = std::chrono::steady_clock::now();
    const torch::Tensor soft_in = soft.to(dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32).clone().requires_grad_(true);
    const torch::Tensor x = torch::cat({soft_in, lm->embed(answer.unsqueeze(0)).squeeze(0)}).unsqueeze(0);
    const torch::Tensor h = lm->hidden_states(x);
    // Each answer token is predicted from the position before it.
    const torch::Tensor logits = lm->logits(h.narrow(1, s.tokens - 1, s.answer)).squeeze(0);
    const torch::Tensor loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), answer);
    loss.backward();
    loss_value = loss.item<float>();
    if (step > 0) seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  std::printf("e2llm dtype=%s tokens=%lld answer=%lld checkpointing=%d s_per_step=%.3f peak_rss_mb=%.0f loss=%.5f\n",
              dtype.c_str(), static_cast<long long>(s.tokens), static_cast<long long>(s.answer), s.checkpointing ? 1 : 0,
              seconds / static_cast<double>(s.steps), peak_rss_mb(), loss_value);
  return 0;
}
