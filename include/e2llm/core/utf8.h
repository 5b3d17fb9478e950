// UTF-8 encoding and decoding: the one copy the tokenizers, the metrics, the
// chunker and generation share. Torch-free and dependency-free.
//
// Well-formed UTF-8 is the Unicode Standard's (Table 3-7, RFC 3629): no
// overlong forms, no surrogates, nothing past U+10FFFF. What happens to bytes
// that are not well-formed is each caller's explicit choice:
//  - utf8_lossy():  one U+FFFD per maximal ill-formed subpart (Rust's
//                   String::from_utf8_lossy, which Hugging Face tokenizers use);
//  - decode_utf8() / decode_utf8_at(): one U+FFFD per ill-formed byte;
//  - utf8_sequence_length(lead, if_not_lead): the caller says what a byte that
//                   cannot start a sequence counts as.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace e2llm {

inline constexpr char32_t kReplacementCharacter = U'\uFFFD';
inline constexpr std::string_view kReplacementCharacterUtf8 = "\xEF\xBF\xBD";

// 10xxxxxx: a byte inside a sequence, never its start.
constexpr bool is_utf8_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

// Bytes of the sequence `lead` starts, from that byte alone: 1 (00..7F),
// 2 (C2..DF), 3 (E0..EF), 4 (F0..F4). A byte that cannot start a well-formed
// sequence (continuation bytes 80..BF, C0, C1, F5..FF) gives `if_not_lead`:
// 0 (the default) to detect it, 1 to step over it as a character of its own.
// The sequence itself may still be ill-formed; utf8_valid_length() checks it.
constexpr size_t utf8_sequence_length(unsigned char lead, size_t if_not_lead = 0) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return if_not_lead;
}

// Bytes of the well-formed sequence at s[pos], or 0 when it is ill-formed
// (or cut off by the end of `s`). `maximal_subpart`, when given, gets the
// length of its longest well-formed prefix (at least 1): what one U+FFFD
// replaces in utf8_lossy(). Requires pos < s.size().
size_t utf8_valid_length(std::string_view s, size_t pos, size_t* maximal_subpart = nullptr);

// The code point at s[0..] WITHOUT checks; `s` must start with a well-formed
// sequence (validated text). Sets `len` to its byte count.
inline char32_t decode_utf8_valid(const char* s, size_t& len) {
  const auto* u = reinterpret_cast<const unsigned char*>(s);
  len = utf8_sequence_length(u[0], 1);
  switch (len) {
    case 1: return u[0];
    case 2: return ((u[0] & 0x1Fu) << 6) | (u[1] & 0x3Fu);
    case 3: return ((u[0] & 0x0Fu) << 12) | ((u[1] & 0x3Fu) << 6) | (u[2] & 0x3Fu);
    default: return ((u[0] & 0x07u) << 18) | ((u[1] & 0x3Fu) << 12) | ((u[2] & 0x3Fu) << 6) | (u[3] & 0x3Fu);
  }
}

// The code point at s[pos] (pos < s.size()), checked: an ill-formed sequence
// reads as U+FFFD with `len` 1, so any bytes are fine.
char32_t decode_utf8_at(std::string_view s, size_t pos, size_t& len);

// Code points of `s`; every byte that is not part of a well-formed sequence
// becomes one U+FFFD.
std::u32string decode_utf8(std::string_view s);

// Appends the UTF-8 form of `cp` (surrogates and values past U+10FFFF are not
// checked: callers pass code points they decoded).
void append_utf8(std::string& out, char32_t cp);
std::string encode_utf8(char32_t cp);
std::string encode_utf8(std::u32string_view text);

// Byte offset of the first ill-formed byte, or npos when `s` is well-formed.
size_t find_invalid_utf8(std::string_view s);
// Each maximal ill-formed subpart becomes U+FFFD, like Rust's from_utf8_lossy.
std::string utf8_lossy(std::string_view s);
// Number of code points in well-formed UTF-8 (the bytes that are not
// continuation bytes).
size_t count_code_points(std::string_view s);

}  // namespace e2llm
