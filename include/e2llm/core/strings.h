// Small byte-string helpers shared by every stage. Torch-free and
// dependency-free. For prefixes and suffixes use C++20's
// std::string::starts_with / ends_with.
#pragma once
#include <string>
#include <string_view>

namespace e2llm {

// The ASCII characters Python's str.isspace() accepts: what str.strip() and
// Jinja's |trim remove from ASCII text (the C locale's isspace() plus the
// separators \x1c-\x1f). Unicode spaces such as U+00A0 are not in it.
inline constexpr std::string_view kAsciiWhitespace = " \t\n\r\v\f\x1c\x1d\x1e\x1f";

// `s` without the leading and trailing bytes that are in `chars`.
constexpr std::string_view trim(std::string_view s, std::string_view chars = kAsciiWhitespace) {
  const size_t begin = s.find_first_not_of(chars);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(chars) - begin + 1);
}

// Every occurrence of `from` (non-empty) replaced by `to`, left to right;
// replacements are not searched again.
inline std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  if (from.empty()) return std::string(text);
  // Built by appending (not std::string::replace in place, on which GCC 12
  // -O3 reports a false -Wstringop-overflow), which is also linear in size.
  std::string out;
  out.reserve(text.size());
  size_t done = 0;
  for (size_t at = text.find(from); at != std::string_view::npos; at = text.find(from, done)) {
    out.append(text.substr(done, at - done)).append(to);
    done = at + from.size();
  }
  return out.append(text.substr(done));
}

}  // namespace e2llm
