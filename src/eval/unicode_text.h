// Python 3.11 string semantics the reference metrics rely on: str.lower()
// (full mapping with the Final_Sigma rule), str.isspace(), and the word
// characters of `re`'s \b (str.isalnum() or '_').
#pragma once
#include <string>
#include <vector>
#include <string_view>

namespace e2llm::unicode {

// Bytes that are not valid UTF-8 decode to U+FFFD each (never a word or space).
std::u32string decode_utf8(std::string_view text);
void append_utf8(std::string& out, char32_t code_point);
std::string encode_utf8(std::u32string_view text);

std::u32string python_lower(std::u32string_view text);
bool is_python_space(char32_t c);
bool is_python_word(char32_t c);

// Python's str.split() with no argument.
std::vector<std::u32string> python_split(std::u32string_view text);

}  // namespace e2llm::unicode
