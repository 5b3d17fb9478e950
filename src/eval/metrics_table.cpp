// The results table (markdown and JSON) and the progress line of a run.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "e2llm/eval/eval_run.h"

namespace e2llm {
namespace {

std::vector<std::string> score_columns(const std::vector<MetricsRow>& rows) {
  std::vector<std::string> columns;
  for (const auto& row : rows)
    for (const auto& [name, value] : row.scores)
      if (std::find(columns.begin(), columns.end(), name) == columns.end()) columns.push_back(name);
  return columns;
}

// "n" and "skipped" count examples; the other columns are percentages.
bool is_count(const std::string& name) { return name == "n" || name == "skipped"; }

std::string format_value(const std::string& name, double value) {
  return is_count(name) ? fmt::format("{}", static_cast<int64_t>(std::llround(value))) : fmt::format("{:.2f}", value);
}

std::string format_duration(double seconds) {
  auto s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

}  // namespace

std::string metrics_markdown(const std::vector<MetricsRow>& rows) {
  auto columns = score_columns(rows);
  std::string out = "| method | dataset |";
  std::string rule = "|---|---|";
  for (const auto& c : columns) {
    out += fmt::format(" {} |", c);
    rule += "---:|";
  }
  out += fmt::format("\n{}\n", rule);
  for (const auto& row : rows) {
    out += fmt::format("| {} | {} |", row.method, row.dataset);
    for (const auto& c : columns) {
      auto it = std::find_if(row.scores.begin(), row.scores.end(), [&](const auto& s) { return s.first == c; });
      out += it == row.scores.end() ? std::string(" |") : fmt::format(" {} |", format_value(c, it->second));
    }
    out += "\n";
  }
  return out;
}

nlohmann::ordered_json scores_json(const NamedScores& scores) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [name, value] : scores) {
    if (is_count(name)) {
      j[name] = static_cast<int64_t>(std::llround(value));
    } else {
      j[name] = value;
    }
  }
  return j;
}

nlohmann::ordered_json metrics_json(const std::vector<MetricsRow>& rows) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& row : rows)
    out.push_back({{"method", row.method}, {"dataset", row.dataset}, {"scores", scores_json(row.scores)}});
  return out;
}

std::string format_progress(size_t done, size_t total, size_t done_now, double elapsed_s) {
  constexpr size_t kWidth = 30;
  double fraction = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  auto filled = static_cast<size_t>(fraction * kWidth);
  std::string bar(filled, '=');
  if (filled < kWidth) {
    bar.push_back('>');
    bar.append(kWidth - filled - 1, ' ');
  }
  std::string out = fmt::format("[{}] {}/{} {:5.1f}%", bar, done, total, 100.0 * fraction);
  if (done_now == 0 || elapsed_s <= 0) return out + "  ETA --";
  double rate = static_cast<double>(done_now) / elapsed_s;
  double eta = static_cast<double>(total - std::min(done, total)) / rate;
  return out + fmt::format("  {:.2f} it/s  ETA {}", rate, format_duration(eta));
}

ProgressBar::ProgressBar(size_t total, size_t already_done, std::FILE* out)
    : total_(total), done_(already_done), out_(out), start_(std::chrono::steady_clock::now()) {}

void ProgressBar::advance(size_t n) {
  done_ += n;
  done_now_ += n;
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(out_, "\r%s", format_progress(done_, total_, done_now_, elapsed).c_str());
  std::fflush(out_);
}

void ProgressBar::finish() { std::fprintf(out_, "\n"); }

}  // namespace e2llm
