// Unicode character properties and normalization for the tokenizers.
// Properties come from ICU, matching the Rust `char` methods Hugging Face
// `tokenizers` uses.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "e2llm/core/utf8.h"

namespace e2llm::text {

// UTF-8 encoding and decoding are core's (e2llm/core/utf8.h); code in this
// namespace finds them unqualified, and text::find_invalid_utf8 still works.
using ::e2llm::find_invalid_utf8;

// Throws e2llm::Error "<what>: invalid UTF-8 at byte offset N" when invalid.
void require_valid_utf8(std::string_view s, std::string_view what);

bool is_whitespace(char32_t c);          // Unicode White_Space (Rust char::is_whitespace)
bool is_other(char32_t c);               // general category C* (Cc Cf Cn Co Cs)
bool is_punctuation(char32_t c);         // general category P*
bool is_nonspacing_mark(char32_t c);     // Mn
bool is_alphanumeric(char32_t c);
bool is_numeric_category(char32_t c);  // N* (Rust char::is_numeric)        // Rust char::is_alphanumeric (Alphabetic or N*)
bool is_cjk_ideograph(char32_t c);       // the ranges BERT pads with spaces
void append_lowercase(std::string& out, char32_t c);  // full (multi-char) mapping

enum class NormalForm { kNFC, kNFD, kNFKC, kNFKD };
// Decomposition (NFD/NFKD) of one character, or the character itself.
std::u32string decompose(char32_t c, bool compatibility);
// Whole-string normalization (used for composing forms).
std::string normalize(std::string_view utf8_text, NormalForm form);
// True when `c` starts a new normalization segment for `form` (nothing before
// it can combine with it).
bool has_boundary_before(char32_t c, NormalForm form);

}  // namespace e2llm::text
