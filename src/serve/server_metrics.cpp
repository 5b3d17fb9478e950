#include "serve/server_metrics.h"

#include <fmt/format.h>

namespace e2llm::serve {
namespace {

std::string metric(const std::string& name, const std::string& type, const std::string& help, double value) {
  return fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, value);
}

}  // namespace

void Histogram::observe(double seconds) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < kBounds.size(); ++i)
    if (seconds <= kBounds[i]) ++counts_[i];
  ++count_;
  sum_ += seconds;
}

std::string Histogram::prometheus(const std::string& name, const std::string& help) const {
  std::lock_guard lock(mutex_);
  std::string out = fmt::format("# HELP {0} {1}\n# TYPE {0} histogram\n", name, help);
  for (size_t i = 0; i < kBounds.size(); ++i) out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, kBounds[i], counts_[i]);
  out += fmt::format("{0}_bucket{{le=\"+Inf\"}} {1}\n{0}_sum {2}\n{0}_count {1}\n", name, count_, sum_);
  return out;
}

void ServerMetrics::count_status(int status) {
  if (status == 429 || status == 503) ++requests_rejected;
  else if (status >= 500) ++requests_server_error;
  else if (status >= 400) ++requests_client_error;
  else ++requests_ok;
}

std::string ServerMetrics::prometheus(int64_t store_bytes, int64_t store_documents, int64_t store_evictions) const {
  std::string out;
  out += metric("e2llm_requests_running", "gauge", "Jobs the compute thread is running (encoding, prefilling).",
                static_cast<double>(requests_running.load()));
  out += metric("e2llm_requests_decoding", "gauge", "Answers in the decoding batch (continuous batching).",
                static_cast<double>(decoding.load()));
  out += metric("e2llm_requests_queued", "gauge", "Jobs waiting for the compute thread.",
                static_cast<double>(requests_queued.load()));
  out += fmt::format("# HELP e2llm_requests_total Finished HTTP requests by outcome.\n# TYPE e2llm_requests_total counter\n");
  out += fmt::format("e2llm_requests_total{{outcome=\"ok\"}} {}\n", requests_ok.load());
  out += fmt::format("e2llm_requests_total{{outcome=\"client_error\"}} {}\n", requests_client_error.load());
  out += fmt::format("e2llm_requests_total{{outcome=\"server_error\"}} {}\n", requests_server_error.load());
  out += fmt::format("e2llm_requests_total{{outcome=\"rejected\"}} {}\n", requests_rejected.load());
  out += fmt::format("e2llm_requests_total{{outcome=\"cancelled\"}} {}\n", requests_cancelled.load());
  out += metric("e2llm_encoder_chunks_total", "counter", "Chunks the encoder computed.",
                static_cast<double>(encoder_chunks.load()));
  out += metric("e2llm_store_hits_total", "counter", "Documents read from the store instead of encoded.",
                static_cast<double>(store_hits.load()));
  out += metric("e2llm_store_misses_total", "counter", "Documents that had to be encoded.",
                static_cast<double>(store_misses.load()));
  out += metric("e2llm_read_hits_total", "counter",
                "Answers that continued the decoder's state after reading their documents instead of prefilling them.",
                static_cast<double>(read_hits.load()));
  out += metric("e2llm_store_bytes", "gauge", "Bytes of the document store.", static_cast<double>(store_bytes));
  out += metric("e2llm_store_documents", "gauge", "Documents in the store.", static_cast<double>(store_documents));
  out += metric("e2llm_store_evictions_total", "counter", "Documents dropped as least recently used.",
                static_cast<double>(store_evictions));
  out += metric("e2llm_prompt_tokens_total", "counter", "Decoder positions prefilled (soft tokens included).",
                static_cast<double>(prompt_tokens.load()));
  out += metric("e2llm_generated_tokens_total", "counter", "Tokens generated.",
                static_cast<double>(generated_tokens.load()));
  out += metric("e2llm_decode_steps_total", "counter",
                "Batched decode steps; fewer than generated tokens when answers share steps.",
                static_cast<double>(decode_steps.load()));
  out += request_seconds.prometheus("e2llm_request_seconds", "Completion latency, queueing included.");
  out += first_token_seconds.prometheus("e2llm_time_to_first_token_seconds", "Time to the first streamed text.");
  return out;
}

}  // namespace e2llm::serve
