#include "e2llm/core/utf8.h"

namespace e2llm {

size_t utf8_valid_length(std::string_view s, size_t pos, size_t* maximal_subpart) {
  const auto* u = reinterpret_cast<const unsigned char*>(s.data());
  const unsigned char b0 = u[pos];
  size_t subpart = 1;
  const size_t need = utf8_sequence_length(b0);
  size_t result = need;
  if (need > 1) {
    // The second byte's range narrows after E0, ED, F0 and F4 (Table 3-7):
    // that excludes overlong forms, surrogates and values past U+10FFFF.
    unsigned char lo = 0x80, hi = 0xBF;
    if (b0 == 0xE0) lo = 0xA0;
    else if (b0 == 0xED) hi = 0x9F;
    else if (b0 == 0xF0) lo = 0x90;
    else if (b0 == 0xF4) hi = 0x8F;
    for (size_t k = 1; k < need; ++k) {
      if (pos + k >= s.size() || u[pos + k] < (k == 1 ? lo : 0x80) || u[pos + k] > (k == 1 ? hi : 0xBF)) {
        result = 0;
        break;
      }
      subpart = k + 1;
    }
  }
  if (maximal_subpart) *maximal_subpart = subpart;
  return result;
}

char32_t decode_utf8_at(std::string_view s, size_t pos, size_t& len) {
  len = utf8_valid_length(s, pos);
  if (len == 0) {
    len = 1;
    return kReplacementCharacter;
  }
  size_t ignored;
  return decode_utf8_valid(s.data() + pos, ignored);
}

std::u32string decode_utf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0, len = 0; i < s.size(); i += len) out.push_back(decode_utf8_at(s, i, len));
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string encode_utf8(char32_t cp) {
  std::string out;
  append_utf8(out, cp);
  return out;
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(out, c);
  return out;
}

size_t find_invalid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = utf8_valid_length(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t subpart;
    const size_t n = utf8_valid_length(s, i, &subpart);
    if (n == 0) {
      out += kReplacementCharacterUtf8;
      i += subpart;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

size_t count_code_points(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += !is_utf8_continuation(static_cast<unsigned char>(c));
  return n;
}

}  // namespace e2llm
