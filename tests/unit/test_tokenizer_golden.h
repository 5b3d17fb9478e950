// Compares a tokenizer with the goldens of scripts/golden/make_tokenizer_golden.py:
// ids, tokens, offsets (code points or bytes), special-token mask, both decodes.
#pragma once
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "e2llm/tokenizer/tokenizer.h"
#include "test_util.h"

namespace e2llm::test {

using nlohmann::json;

inline std::vector<json> read_golden(const std::string& name) {
  std::ifstream in(test::golden_dir() + "/tokenizer/" + name + ".golden.jsonl");
  std::vector<json> rows;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(json::parse(line));
  return rows;
}

inline std::string shorten(const std::string& s) { return s.size() > 60 ? s.substr(0, 60) + "..." : s; }

inline void expect_matches_golden(const Tokenizer& tok, const std::string& name) {
  std::vector<json> rows = read_golden(name);
  ASSERT_FALSE(rows.empty()) << "no goldens for " << name;
  for (const json& row : rows) {
    const std::string text = row.at("text");
    // SentencePiece goldens (no such field) come from its plain encode, no BOS.
    const bool add_special = row.value("add_special_tokens", false);
    SCOPED_TRACE(name + " text='" + shorten(text) + "' add_special=" + std::to_string(add_special));
    Encoding e = tok.encode(text, add_special);
    EXPECT_EQ(e.ids, row.at("ids").get<std::vector<int64_t>>());
    EXPECT_EQ(e.tokens, row.at("tokens").get<std::vector<std::string>>());
    if (row.contains("offsets")) {
      std::vector<Offsets> expected;
      for (const auto& o : row.at("offsets")) expected.emplace_back(o[0].get<size_t>(), o[1].get<size_t>());
      EXPECT_EQ(e.offsets, expected);
    }
    if (row.contains("byte_offsets")) {
      std::vector<Offsets> expected;
      for (const auto& o : row.at("byte_offsets")) expected.emplace_back(o[0].get<size_t>(), o[1].get<size_t>());
      EXPECT_EQ(e.byte_offsets, expected);
    }
    if (row.contains("special_tokens_mask")) {
      EXPECT_EQ(e.special_tokens_mask, row.at("special_tokens_mask").get<std::vector<int64_t>>());
    }
    std::vector<int64_t> ids = row.at("ids").get<std::vector<int64_t>>();
    EXPECT_EQ(tok.decode(ids, true), row.at("decoded").get<std::string>());
    if (row.contains("decoded_with_special")) {
      EXPECT_EQ(tok.decode(ids, false), row.at("decoded_with_special").get<std::string>());
    }
  }
}

}  // namespace e2llm::test
