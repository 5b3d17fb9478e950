// When generation stops: a token budget, stop token ids (EOS ids, which CausalLM reads from
// config.json and generation_config.json, plus user ones) and stop strings matched on the
// decoded text across token boundaries. Also tells the streamer how much text
// is final, so a stop string is never half-shown before it is recognised.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace e2llm {

struct StopConfig {
  int64_t max_new_tokens = 256;        // counts every generated token, stop token included (as HF)
  std::vector<int64_t> stop_token_ids;  // EOS ids and any others
  std::vector<std::string> stop_strings;
  // Do not add the model's EOS ids: generate max_new_tokens tokens, as
  // benchmarks need (llama.cpp's --ignore-eos, vLLM's ignore_eos); the
  // window may still end it sooner.
  bool ignore_eos = false;
  // Positions left in the decoder's window after the prompt (-1: no limit).
  // generate() sets it (or lowers it): an answer stops where the window ends,
  // not past the positions the model knows.
  int64_t window_left = -1;
};

enum class StopReason { kNone, kMaxNewTokens, kStopToken, kStopString, kWindowFull };
const char* to_string(StopReason reason);

class StopCriteria {
 public:
  explicit StopCriteria(StopConfig config);

  // Call once per generated token with the text it completed (may be empty,
  // e.g. half of a UTF-8 character). A stop token's text is not kept.
  // Returns why to stop now, or kNone to go on.
  StopReason on_token(int64_t id, std::string_view piece);

  // Text a streaming decoder released only at the end of the stream (a held
  // back last word); a stop string in it still cuts. No-op after a stop string.
  void on_finish(std::string_view tail);

  // The generated text so far; a matched stop string and anything after it are cut off.
  const std::string& text() const { return text_; }
  // Bytes of text() that are final: a later token cannot make them part of a
  // stop string. Everything is final once generation stopped.
  size_t stable_length() const;
  int64_t generated() const { return generated_; }
  // The most tokens it lets come: max_new_tokens, or window_left when less.
  int64_t most_tokens() const;
  StopReason reason() const { return reason_; }
  bool is_stop_token(int64_t id) const { return stop_ids_.count(id) > 0; }

 private:
  bool cut_at_stop_string(size_t search_from);
  size_t stop_string_search_start() const;

  StopConfig config_;
  std::unordered_set<int64_t> stop_ids_;
  size_t longest_stop_string_ = 0;
  std::string text_;
  int64_t generated_ = 0;
  StopReason reason_ = StopReason::kNone;
};

}  // namespace e2llm
