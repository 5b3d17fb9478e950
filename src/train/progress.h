// The training progress line on stderr: redrawn in place on a terminal,
// plain lines every `every` steps otherwise (logs, CI).
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace e2llm::train {

struct ProgressSnapshot {
  int64_t step = 0;
  int64_t max_steps = 0;
  double loss = 0;
  std::map<std::string, double> parts;
  double lr = 0;
  double tokens_per_s = 0;
  double eta_s = 0;
};

class ProgressLine {
 public:
  ProgressLine(bool enabled, int64_t every);
  ~ProgressLine();
  void update(const ProgressSnapshot& s);
  void message(const std::string& line);  // a full line that must not be overdrawn

 private:
  bool enabled_, tty_;
  int64_t every_;
  bool line_open_ = false;
};

std::string format_duration(double seconds);  // "1h02m", "3m05s", "42s"
std::string format_progress(const ProgressSnapshot& s, int bar_width);

}  // namespace e2llm::train
