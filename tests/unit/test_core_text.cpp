// The shared UTF-8 and string helpers of core (e2llm/core/utf8.h, strings.h).
#include <gtest/gtest.h>

#include "e2llm/core/strings.h"
#include "e2llm/core/utf8.h"

using namespace e2llm;

TEST(Utf8, SequenceLengthFollowsRfc3629AndTheCallersChoiceForStrayBytes) {
  EXPECT_EQ(utf8_sequence_length('a'), 1u);
  EXPECT_EQ(utf8_sequence_length(0xC3), 2u);
  EXPECT_EQ(utf8_sequence_length(0xE5), 3u);
  EXPECT_EQ(utf8_sequence_length(0xF0), 4u);
  EXPECT_EQ(utf8_sequence_length(0xF4), 4u);
  for (unsigned char stray : {0x80, 0xBF, 0xC0, 0xC1, 0xF5, 0xF8, 0xFF}) {
    EXPECT_EQ(utf8_sequence_length(stray), 0u) << int(stray);
    EXPECT_EQ(utf8_sequence_length(stray, 1), 1u) << int(stray);
  }
  EXPECT_TRUE(is_utf8_continuation(0x80));
  EXPECT_FALSE(is_utf8_continuation(0xC3));
}

TEST(Utf8, ValidLengthRejectsOverlongSurrogatesAndCutSequences) {
  size_t subpart = 0;
  EXPECT_EQ(utf8_valid_length("\xE5\x8C\x97", 0, &subpart), 3u);
  EXPECT_EQ(utf8_valid_length("\xC0\x80", 0, &subpart), 0u);          // overlong
  EXPECT_EQ(utf8_valid_length("\xE0\x80\x80", 0, &subpart), 0u);      // overlong
  EXPECT_EQ(subpart, 1u);
  EXPECT_EQ(utf8_valid_length("\xED\xA0\x80", 0, &subpart), 0u);      // surrogate
  EXPECT_EQ(utf8_valid_length("\xF4\x90\x80\x80", 0, &subpart), 0u);  // past U+10FFFF
  EXPECT_EQ(utf8_valid_length("\xF0\x9F\x98", 0, &subpart), 0u);      // cut off
  EXPECT_EQ(subpart, 3u);
}

TEST(Utf8, LossyReplacesMaximalSubpartsAndDecodeReplacesBytes) {
  // Rust's from_utf8_lossy (Hugging Face): one U+FFFD per maximal subpart.
  EXPECT_EQ(utf8_lossy("a\xF0\x9F\x98" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(utf8_lossy("\xC0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  // decode_utf8: one U+FFFD per byte.
  EXPECT_EQ(decode_utf8("a\xF0\x9F\x98" "b"), U"a\uFFFD\uFFFD\uFFFDb");
  EXPECT_EQ(decode_utf8("caf\xC3\xA9 \xF0\x9F\x98\x80"), U"caf\u00E9 \U0001F600");
  size_t len = 0;
  EXPECT_EQ(decode_utf8_at("\xC3(", 0, len), kReplacementCharacter);
  EXPECT_EQ(len, 1u);
  EXPECT_EQ(find_invalid_utf8("ok \xC3\x28"), 3u);
  EXPECT_EQ(find_invalid_utf8("caf\xC3\xA9"), std::string_view::npos);
  EXPECT_EQ(count_code_points("caf\xC3\xA9"), 4u);
}

TEST(Utf8, EncodeAndDecodeRoundTripEveryScalarValue) {
  for (char32_t c = 0; c <= 0x10FFFF; c += (c < 0x800 ? 1 : 7)) {
    if (c >= 0xD800 && c < 0xE000) continue;
    std::string bytes = encode_utf8(c);
    ASSERT_EQ(find_invalid_utf8(bytes), std::string_view::npos) << uint32_t(c);
    size_t len = 0;
    ASSERT_EQ(decode_utf8_valid(bytes.data(), len), c);
    ASSERT_EQ(len, bytes.size());
    ASSERT_EQ(decode_utf8(bytes), std::u32string(1, c));
  }
  EXPECT_EQ(encode_utf8(U"a\u00E9\U0001F600"), "a\xC3\xA9\xF0\x9F\x98\x80");
}

TEST(CoreStrings, TrimAndReplaceAll) {
  EXPECT_EQ(trim(" \t\x1c hi there \n\v"), "hi there");
  EXPECT_EQ(trim("\xC2\xA0hi"), "\xC2\xA0hi");  // U+00A0 is kept
  EXPECT_EQ(trim("  "), "");
  EXPECT_EQ(trim("\vB) x\n", " \t\r\n"), "\vB) x");
  EXPECT_EQ(replace_all("a\\nb\\n", "\\n", "\n"), "a\nb\n");
  EXPECT_EQ(replace_all("aaa", "a", "aa"), "aaaaaa");
  EXPECT_EQ(replace_all("abc", "", "x"), "abc");
}
