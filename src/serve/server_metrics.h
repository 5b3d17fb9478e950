// The counters behind GET /metrics, written in Prometheus' text format.
// Every member is safe to update from any thread.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace e2llm::serve {

// Seconds, with Prometheus' cumulative buckets.
class Histogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  void observe(double seconds);
  std::string prometheus(const std::string& name, const std::string& help) const;

 private:
  mutable std::mutex mutex_;
  std::array<uint64_t, kBounds.size()> counts_{};
  uint64_t count_ = 0;
  double sum_ = 0;
};

struct ServerMetrics {
  std::atomic<int64_t> requests_running{0}, requests_queued{0}, decoding{0};
  std::atomic<uint64_t> requests_ok{0}, requests_client_error{0}, requests_server_error{0}, requests_rejected{0},
      requests_cancelled{0};
  std::atomic<uint64_t> encoder_chunks{0}, store_hits{0}, store_misses{0}, read_hits{0};
  std::atomic<uint64_t> prompt_tokens{0}, generated_tokens{0}, decode_steps{0};
  Histogram request_seconds, first_token_seconds;

  void count_status(int status);
  // Store figures are read from the store when /metrics is asked.
  std::string prometheus(int64_t store_bytes, int64_t store_documents, int64_t store_evictions) const;
};

}  // namespace e2llm::serve
