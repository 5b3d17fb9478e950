#include "tokenizer/byte_level.h"

#include "tokenizer/unicode.h"

namespace e2llm::text {

const ByteLevelAlphabet& ByteLevelAlphabet::get() {
  static const ByteLevelAlphabet alphabet = [] {
    ByteLevelAlphabet a;
    a.byte_of_.fill(-1);
    auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      char32_t c = printable(b) ? static_cast<char32_t>(b) : next++;
      a.char_of_byte[b] = c;
      a.utf8_of_byte[b] = encode_utf8(c);
      a.byte_of_[c] = static_cast<int16_t>(b);
    }
    return a;
  }();
  return alphabet;
}

std::string to_byte_level(std::string_view bytes) {
  const auto& a = ByteLevelAlphabet::get();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += a.utf8_of_byte[b];
  return out;
}

bool from_byte_level(std::string_view text, std::string& bytes) {
  const auto& a = ByteLevelAlphabet::get();
  for (size_t i = 0; i < text.size();) {
    size_t len;
    int b = a.byte_of_char(decode_utf8_at(text, i, len));
    if (b < 0) return false;
    bytes.push_back(static_cast<char>(b));
    i += len;
  }
  return true;
}

}  // namespace e2llm::text
