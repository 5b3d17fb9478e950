// e2llm tokenize / detokenize: JSON Lines in, JSON Lines out.
//   tokenize:   {"text": "..."}  ->  {"ids": [...], "tokens": [...], "offsets": [[b, e], ...]}
//   detokenize: {"ids": [...]}   ->  {"text": "..."}
// Offsets are Unicode code points of the input text, as Hugging Face reports them.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "command.h"
#include "e2llm/core/error.h"
#include "e2llm/tokenizer/tokenizer.h"

namespace e2llm::cli {
namespace {

using nlohmann::json;

json parse_line(const std::string& line, size_t line_no) {
  try {
    return json::parse(line);
  } catch (const json::exception& e) {
    fail("stdin line {}: invalid JSON: {}", line_no, e.what());
  }
}

// Lines are read as bytes: invalid UTF-8 inside a JSON string is reported by
// the JSON parser with its byte position, never passed on.
template <typename Fn>
void for_each_line(Fn&& fn) {
  std::string line;
  for (size_t line_no = 1; std::getline(std::cin, line); ++line_no) {
    if (line.empty() || line == "\r") continue;
    fn(parse_line(line, line_no), line_no);
  }
}

void run_tokenize(const std::string& model, bool add_special_tokens, bool byte_offsets) {
  auto tok = Tokenizer::from_file(model);
  for_each_line([&](const json& j, size_t line_no) {
    E2LLM_CHECK(j.is_object() && j.contains("text") && j.at("text").is_string(),
                "stdin line {}: expected {{\"text\": \"...\"}}", line_no);
    Encoding e;
    try {
      e = tok->encode(j.at("text").get_ref<const std::string&>(), add_special_tokens);
    } catch (const Error& err) {
      fail("stdin line {}: {}", line_no, err.what());
    }
    json offsets = json::array();
    for (const auto& [b, end] : byte_offsets ? e.byte_offsets : e.offsets) offsets.push_back({b, end});
    json out = {{"ids", e.ids}, {"tokens", e.tokens}, {"offsets", offsets}};
    std::string text = out.dump(-1, ' ', false, json::error_handler_t::replace);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
  });
}

void run_detokenize(const std::string& model, bool skip_special_tokens) {
  auto tok = Tokenizer::from_file(model);
  for_each_line([&](const json& j, size_t line_no) {
    E2LLM_CHECK(j.is_object() && j.contains("ids") && j.at("ids").is_array(),
                "stdin line {}: expected {{\"ids\": [...]}}", line_no);
    std::vector<int64_t> ids;
    for (const auto& id : j.at("ids")) {
      E2LLM_CHECK(id.is_number_integer(), "stdin line {}: ids must be integers", line_no);
      ids.push_back(id.get<int64_t>());
    }
    std::string text;
    try {
      text = tok->decode(ids, skip_special_tokens);
    } catch (const Error& err) {
      fail("stdin line {}: {}", line_no, err.what());
    }
    std::string line = json{{"text", text}}.dump(-1, ' ', false, json::error_handler_t::replace);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
  });
}

CommandRegistrar tokenize_registrar("tokenize", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Tokenize JSON Lines {\"text\": ...} from stdin");
  auto model = std::make_shared<std::string>();
  auto add_special = std::make_shared<bool>(true);
  auto bytes = std::make_shared<bool>(false);
  add_model_option(cmd, *model, "tokenizer.json, tokenizer.model, .gguf file, or model folder")->required();
  cmd->add_flag("--add-special-tokens,!--no-add-special-tokens", *add_special,
                "Add the model's special tokens ([CLS]/[SEP], BOS, ...); default on");
  cmd->add_flag("--byte-offsets", *bytes, "Print UTF-8 byte offsets instead of code-point offsets");
  cmd->callback([model, add_special, bytes] { run_tokenize(*model, *add_special, *bytes); });
});

CommandRegistrar detokenize_registrar("detokenize", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("detokenize", "Decode JSON Lines {\"ids\": [...]} from stdin");
  auto model = std::make_shared<std::string>();
  auto keep_special = std::make_shared<bool>(false);
  add_model_option(cmd, *model, "tokenizer.json, tokenizer.model, .gguf file, or model folder")->required();
  cmd->add_flag("--keep-special-tokens", *keep_special, "Write special tokens into the text instead of skipping them");
  cmd->callback([model, keep_special] { run_detokenize(*model, !*keep_special); });
});

}  // namespace
}  // namespace e2llm::cli
