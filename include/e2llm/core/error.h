// One exception type for every bad input e2llm can meet. Messages name the
// file, the field or offset, and what is wrong, so the CLI can print them as a
// one-line reason.
#pragma once
#include <stdexcept>
#include <string>
#include <fmt/format.h>

namespace e2llm {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace e2llm

// Throws e2llm::Error with a formatted message when `cond` is false.
#define E2LLM_CHECK(cond, ...)            \
  do {                                    \
    if (!(cond)) ::e2llm::fail(__VA_ARGS__); \
  } while (0)
