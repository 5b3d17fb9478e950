// Stop criteria: token budget, stop ids, stop strings over the decoded text.
#include "e2llm/generate/stop_criteria.h"

#include <algorithm>

#include "e2llm/core/error.h"

namespace e2llm {

const char* to_string(StopReason reason) {
  switch (reason) {
    case StopReason::kNone: return "none";
    case StopReason::kMaxNewTokens: return "max_new_tokens";
    case StopReason::kStopToken: return "stop_token";
    case StopReason::kStopString: return "stop_string";
    case StopReason::kWindowFull: return "window_full";
  }
  return "unknown";
}

StopCriteria::StopCriteria(StopConfig config)
    : config_(std::move(config)), stop_ids_(config_.stop_token_ids.begin(), config_.stop_token_ids.end()) {
  E2LLM_CHECK(config_.max_new_tokens >= 0, "max_new_tokens must be >= 0, got {}", config_.max_new_tokens);
  for (const std::string& s : config_.stop_strings) {
    E2LLM_CHECK(!s.empty(), "stop strings must not be empty");
    longest_stop_string_ = std::max(longest_stop_string_, s.size());
  }
  E2LLM_CHECK(config_.window_left >= -1, "window_left must be >= -1, got {}", config_.window_left);
  if (config_.max_new_tokens == 0) reason_ = StopReason::kMaxNewTokens;
  else if (config_.window_left == 0) reason_ = StopReason::kWindowFull;
}

int64_t StopCriteria::most_tokens() const {
  return config_.window_left >= 0 ? std::min(config_.max_new_tokens, config_.window_left) : config_.max_new_tokens;
}

StopReason StopCriteria::on_token(int64_t id, std::string_view piece) {
  E2LLM_CHECK(reason_ == StopReason::kNone, "stop criteria: token after generation stopped ({})",
              to_string(reason_));
  ++generated_;
  if (is_stop_token(id)) return reason_ = StopReason::kStopToken;
  const size_t search_from = stop_string_search_start();
  text_.append(piece);
  if (cut_at_stop_string(search_from)) return reason_ = StopReason::kStopString;
  if (generated_ >= config_.max_new_tokens) return reason_ = StopReason::kMaxNewTokens;
  if (config_.window_left >= 0 && generated_ >= config_.window_left) return reason_ = StopReason::kWindowFull;
  return StopReason::kNone;
}

void StopCriteria::on_finish(std::string_view tail) {
  if (reason_ == StopReason::kStopString || tail.empty()) return;
  const size_t search_from = stop_string_search_start();
  text_.append(tail);
  if (cut_at_stop_string(search_from)) reason_ = StopReason::kStopString;
}

// A stop string may start in text that came from earlier tokens.
size_t StopCriteria::stop_string_search_start() const {
  const size_t overlap = longest_stop_string_ > 0 ? longest_stop_string_ - 1 : 0;
  return text_.size() > overlap ? text_.size() - overlap : 0;
}

bool StopCriteria::cut_at_stop_string(size_t search_from) {
  size_t earliest = std::string::npos;
  for (const std::string& s : config_.stop_strings)
    earliest = std::min(earliest, text_.find(s, search_from));
  if (earliest == std::string::npos) return false;
  text_.resize(earliest);
  return true;
}

size_t StopCriteria::stable_length() const {
  if (reason_ != StopReason::kNone) return text_.size();
  // Hold back the longest tail of the text that could still grow into a stop string.
  size_t held = 0;
  for (const std::string& s : config_.stop_strings) {
    for (size_t n = std::min(s.size() - 1, text_.size()); n > held; --n) {
      if (text_.compare(text_.size() - n, n, s, 0, n) == 0) {
        held = n;
        break;
      }
    }
  }
  return text_.size() - held;
}

}  // namespace e2llm
