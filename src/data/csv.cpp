#include "data/csv.h"

#include "e2llm/core/error.h"

namespace e2llm::csv {

std::vector<Record> parse(std::string_view text, const std::string& path) {
  std::vector<Record> records;
  Record current{1, {}};
  std::string field;
  size_t line = 1, quote_line = 0;
  bool quoted = false, any = false;
  auto end_record = [&] {
    current.fields.push_back(std::move(field));
    field.clear();
    records.push_back(std::move(current));
    current = Record{line, {}};
    any = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      continue;
    }
    any = true;
    if (c == '"') {
      quoted = true;
      quote_line = line;
    } else if (c == ',') {
      current.fields.push_back(std::move(field));
      field.clear();
    } else if (c == '\n') {
      ++line;
      end_record();
    } else if (c != '\r') {
      field.push_back(c);
    }
  }
  E2LLM_CHECK(!quoted, "{}:{}: unterminated quoted field", path, quote_line);
  if (any) end_record();
  return records;
}

size_t column(const Record& header, std::string_view name, const std::string& path) {
  for (size_t i = 0; i < header.fields.size(); ++i)
    if (header.fields[i] == name) return i;
  fail("{}:{}: no column '{}' in the header", path, header.line, name);
}

}  // namespace e2llm::csv
