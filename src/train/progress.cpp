#include "progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include <fmt/format.h>

namespace e2llm::train {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02d}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02d}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

std::string format_progress(const ProgressSnapshot& s, int bar_width) {
  std::string out = fmt::format("step {}/{}", s.step, s.max_steps);
  if (bar_width > 0 && s.max_steps > 0) {
    int filled = static_cast<int>(bar_width * std::min<int64_t>(s.step, s.max_steps) / s.max_steps);
    out += " [" + std::string(filled, '#') + std::string(bar_width - filled, '.') + "]";
  }
  out += fmt::format(" loss {:.4f}", s.loss);
  for (const auto& [name, value] : s.parts) out += fmt::format(" {} {:.4f}", name, value);
  out += fmt::format(" lr {:.2e} {:.0f} tok/s ETA {}", s.lr, s.tokens_per_s, format_duration(s.eta_s));
  return out;
}

ProgressLine::ProgressLine(bool enabled, int64_t every)
    : enabled_(enabled), tty_(::isatty(STDERR_FILENO) == 1), every_(std::max<int64_t>(1, every)) {}

ProgressLine::~ProgressLine() {
  if (line_open_) std::fputc('\n', stderr);
}

void ProgressLine::update(const ProgressSnapshot& s) {
  if (!enabled_) return;
  if (tty_) {
    std::fprintf(stderr, "\r%s\033[K", format_progress(s, 20).c_str());
    std::fflush(stderr);
    line_open_ = true;
  } else if (s.step % every_ == 0 || s.step == s.max_steps) {
    std::fprintf(stderr, "%s\n", format_progress(s, 0).c_str());
  }
}

void ProgressLine::message(const std::string& line) {
  if (!enabled_) return;
  if (line_open_) std::fputc('\n', stderr);
  line_open_ = false;
  std::fprintf(stderr, "%s\n", line.c_str());
}

}  // namespace e2llm::train
