// UTF-8 and Unicode character properties for the tokenizers. Properties come
// from ICU, matching the Rust `char` methods Hugging Face `tokenizers` uses.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace e2llm::text {

// Length of the UTF-8 sequence a lead byte starts (1 for stray bytes).
inline size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;
}

// Code point at s[0..]; `s` must hold valid UTF-8. Sets `len` to its byte count.
inline char32_t decode_utf8(const char* s, size_t& len) {
  const auto* u = reinterpret_cast<const unsigned char*>(s);
  len = utf8_length(u[0]);
  switch (len) {
    case 1: return u[0];
    case 2: return ((u[0] & 0x1Fu) << 6) | (u[1] & 0x3Fu);
    case 3: return ((u[0] & 0x0Fu) << 12) | ((u[1] & 0x3Fu) << 6) | (u[2] & 0x3Fu);
    default: return ((u[0] & 0x07u) << 18) | ((u[1] & 0x3Fu) << 12) | ((u[2] & 0x3Fu) << 6) | (u[3] & 0x3Fu);
  }
}

void append_utf8(std::string& out, char32_t cp);
inline std::string utf8(char32_t cp) {
  std::string s;
  append_utf8(s, cp);
  return s;
}

// Byte offset of the first invalid UTF-8 byte, or npos when `s` is valid.
size_t find_invalid_utf8(std::string_view s);
// Throws e2llm::Error "<what>: invalid UTF-8 at byte offset N" when invalid.
void require_valid_utf8(std::string_view s, std::string_view what);
// Each maximal invalid subsequence becomes U+FFFD, like Rust's from_utf8_lossy.
std::string utf8_lossy(std::string_view bytes);
// Number of code points in valid UTF-8.
size_t count_code_points(std::string_view s);

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
