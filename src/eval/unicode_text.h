// Python 3.11 string semantics the reference metrics rely on: str.lower()
// (full mapping with the Final_Sigma rule), str.isspace(), and the word
// characters of `re`'s \b (str.isalnum() or '_').
#pragma once
#include <string>
#include <vector>
#include <string_view>

#include "e2llm/core/utf8.h"

namespace e2llm::unicode {

// Text goes in and out through e2llm/core/utf8.h: decode_utf8() turns each
// byte that is not valid UTF-8 into one U+FFFD (never a word or space).

std::u32string python_lower(std::u32string_view text);
bool is_python_space(char32_t c);
bool is_python_word(char32_t c);

// Python's str.split() with no argument.
std::vector<std::u32string> python_split(std::u32string_view text);

}  // namespace e2llm::unicode
