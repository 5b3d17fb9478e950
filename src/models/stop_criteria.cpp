// Stop criteria: token budget, stop ids, stop strings over the decoded text.
#include "e2llm/stop_criteria.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "e2llm/error.h"
#include "e2llm/fs.h"

namespace e2llm {

const char* to_string(StopReason reason) {
  switch (reason) {
    case StopReason::kNone: return "none";
    case StopReason::kMaxNewTokens: return "max_new_tokens";
    case StopReason::kStopToken: return "stop_token";
    case StopReason::kStopString: return "stop_string";
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
  if (config_.max_new_tokens == 0) reason_ = StopReason::kMaxNewTokens;
}

StopReason StopCriteria::on_token(int64_t id, std::string_view piece) {
  E2LLM_CHECK(reason_ == StopReason::kNone, "stop criteria: token after generation stopped ({})",
              to_string(reason_));
  ++generated_;
  if (is_stop_token(id)) return reason_ = StopReason::kStopToken;
  // A stop string may start in text that came from earlier tokens.
  const size_t overlap = longest_stop_string_ > 0 ? longest_stop_string_ - 1 : 0;
  const size_t search_from = text_.size() > overlap ? text_.size() - overlap : 0;
  text_.append(piece);
  if (cut_at_stop_string(search_from)) return reason_ = StopReason::kStopString;
  if (generated_ >= config_.max_new_tokens) return reason_ = StopReason::kMaxNewTokens;
  return StopReason::kNone;
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

namespace {

void add_eos_ids(const std::string& path, std::vector<int64_t>* ids) {
  if (!file_exists(path)) return;
  nlohmann::json j = read_json_file(path);
  if (!j.contains("eos_token_id") || j["eos_token_id"].is_null()) return;
  const nlohmann::json& eos = j["eos_token_id"];
  auto add = [&](const nlohmann::json& v) {
    E2LLM_CHECK(v.is_number_integer(), "{}: eos_token_id must be an integer or a list of integers", path);
    int64_t id = v.get<int64_t>();
    if (std::find(ids->begin(), ids->end(), id) == ids->end()) ids->push_back(id);
  };
  if (eos.is_array()) {
    for (const auto& v : eos) add(v);
  } else {
    add(eos);
  }
}

}  // namespace

std::vector<int64_t> eos_token_ids_from_folder(const std::string& folder) {
  std::vector<int64_t> ids;
  add_eos_ids(folder + "/config.json", &ids);
  add_eos_ids(folder + "/generation_config.json", &ids);
  return ids;
}

}  // namespace e2llm
