// GPT-2's byte-to-character alphabet: every byte gets a printable character so
// byte-level BPE vocabularies can be stored as text.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace e2llm::text {

struct ByteLevelAlphabet {
  std::array<char32_t, 256> char_of_byte{};
  std::array<std::string, 256> utf8_of_byte{};  // char_of_byte as UTF-8
  // Byte a character stands for, or -1 when it is not in the alphabet.
  int byte_of_char(char32_t c) const { return c < byte_of_.size() ? byte_of_[c] : -1; }

  static const ByteLevelAlphabet& get();

 private:
  std::array<int16_t, 324> byte_of_{};
};

// "Hello wörld" -> "HelloĠwÃ¶rld".
std::string to_byte_level(std::string_view bytes);
// The reverse; false when a character is outside the alphabet.
bool from_byte_level(std::string_view text, std::string& bytes);

}  // namespace e2llm::text
