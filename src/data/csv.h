// RFC 4180 CSV (quoted fields may hold commas, quotes and newlines), with the
// line each record starts on, for error messages.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace e2llm::csv {

struct Record {
  size_t line = 0;  // 1-based line where the record starts
  std::vector<std::string> fields;
};

// Throws e2llm::Error naming `path` and the line of an unterminated quote.
std::vector<Record> parse(std::string_view text, const std::string& path);

// Column index by header name; throws naming the file when absent.
size_t column(const Record& header, std::string_view name, const std::string& path);

}  // namespace e2llm::csv
