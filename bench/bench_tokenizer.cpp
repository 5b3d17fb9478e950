// Tokens per second on one QMSum transcript (the first meeting of train.jsonl),
// single thread, for each tokenizer kind. scripts/golden/bench_tokenizer_hf.py
// measures Hugging Face `tokenizers` on the same text; docs/tokenizers.md
// records both.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "e2llm/tokenizer/tokenizer.h"

namespace {

std::string source_path(const std::string& rel) { return std::string(E2LLM_SOURCE_DIR) + "/" + rel; }

std::string model_cache() {
  if (const char* env = std::getenv("E2LLM_MODEL_CACHE")) return env;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.cache/e2llm/models";
}

const std::string& transcript() {
  static const std::string text = [] {
    const char* shared = std::getenv("E2LLM_SHARED_DIR");
    std::ifstream in((shared ? std::string(shared) : source_path("../shared")) + "/data/qmsum/train.jsonl");
    std::string line;
    std::getline(in, line);
    if (line.empty()) return std::string();
    std::string out;
    const nlohmann::json meeting = nlohmann::json::parse(line);
    for (const auto& turn : meeting.at("meeting_transcripts"))
      out += turn.at("speaker").get<std::string>() + ": " + turn.at("content").get<std::string>() + "\n";
    return out;
  }();
  return text;
}

void bench_encode(benchmark::State& state, const std::string& path) {
  if (transcript().empty()) {
    state.SkipWithError("QMSum not found (../shared/data/qmsum/train.jsonl)");
    return;
  }
  std::unique_ptr<e2llm::Tokenizer> tok;
  try {
    tok = e2llm::Tokenizer::from_file(path);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  size_t tokens = 0;
  for (auto _ : state) {
    auto e = tok->encode(transcript(), false);
    tokens += e.size();
    benchmark::DoNotOptimize(e.ids.data());
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
  state.counters["tokens"] = static_cast<double>(tokens) / static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * transcript().size()));
}

void register_all() {
  const std::string golden = source_path("tests/golden/tokenizer/");
  const std::pair<const char*, std::string> cases[] = {
      {"WordPiece/all-MiniLM-L6-v2", model_cache() + "/all-MiniLM-L6-v2/tokenizer.json"},
      {"ByteLevelBPE/SmolLM2.gguf", model_cache() + "/SmolLM2-135M-Instruct.Q4_1.gguf"},
      {"SentencePieceBPE/gemma3.gguf", model_cache() + "/gemma-3-270m-Q4_K_M.gguf"},
      {"ByteLevelBPE/fixture", golden + "bytelevel_bpe.tokenizer.json"},
      {"BPEByteFallback/fixture", golden + "bpe_byte_fallback.tokenizer.json"},
      {"Unigram/fixture", golden + "unigram.tokenizer.json"},
      {"SentencePieceLib/spm_unigram.model", golden + "spm_unigram.model"},
  };
  for (const auto& [name, path] : cases)
    benchmark::RegisterBenchmark((std::string("BM_Encode/") + name).c_str(),
                                 [path = path](benchmark::State& s) { bench_encode(s, path); })
        ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
