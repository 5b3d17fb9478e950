#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "e2llm/io/model_files.h"
#include "test_util.h"

using namespace e2llm;
using e2llm::test::TempDir;
using nlohmann::json;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace {

template <typename Parse>
std::string error_of(Parse parse) {
  try {
    parse();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an e2llm::Error";
  return "";
}

}  // namespace

TEST(GenerationConfig, EmptyObjectGivesDefaults) {
  GenerationConfig c = parse_generation_config(json::object(), "g.json");
  EXPECT_FALSE(c.bos_token_id);
  EXPECT_TRUE(c.eos_token_ids.empty());
  EXPECT_FALSE(c.do_sample);
  EXPECT_EQ(c.temperature, 1.0);
  EXPECT_EQ(c.top_k, 50);
  EXPECT_EQ(c.top_p, 1.0);
  EXPECT_EQ(c.min_p, 0.0);
  EXPECT_EQ(c.repetition_penalty, 1.0);
  EXPECT_FALSE(c.max_new_tokens);
}

TEST(GenerationConfig, ReadsEveryFieldAndEosAsIntOrList) {
  json j = json::parse(R"({"bos_token_id": 1, "eos_token_id": [2, 106], "pad_token_id": null,
      "do_sample": true, "temperature": 0.7, "top_k": 64, "top_p": 0.95, "min_p": 0.05,
      "repetition_penalty": 1.1, "max_new_tokens": 256, "max_length": 20.0})");
  GenerationConfig c = parse_generation_config(j, "g.json");
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_THAT(c.eos_token_ids, ElementsAre(2, 106));
  EXPECT_FALSE(c.pad_token_id);  // null = absent
  EXPECT_TRUE(c.do_sample);
  EXPECT_DOUBLE_EQ(c.temperature, 0.7);
  EXPECT_EQ(c.top_k, 64);
  EXPECT_DOUBLE_EQ(c.top_p, 0.95);
  EXPECT_DOUBLE_EQ(c.min_p, 0.05);
  EXPECT_DOUBLE_EQ(c.repetition_penalty, 1.1);
  EXPECT_EQ(c.max_new_tokens, 256);
  EXPECT_EQ(c.max_length, 20);
  EXPECT_THAT(parse_generation_config(json{{"eos_token_id", 2}}, "g").eos_token_ids, ElementsAre(2));
}

TEST(GenerationConfig, WrongTypesAndRangesNameFileAndField) {
  EXPECT_THAT(error_of([] { parse_generation_config(json{{"top_k", "50"}}, "cfg/g.json"); }),
              AllOf(HasSubstr("cfg/g.json"), HasSubstr("'top_k'"), HasSubstr("integer")));
  EXPECT_THAT(error_of([] { parse_generation_config(json{{"do_sample", 1}}, "g.json"); }),
              HasSubstr("'do_sample'"));
  EXPECT_THAT(error_of([] { parse_generation_config(json{{"eos_token_id", {1, "x"}}}, "g.json"); }),
              HasSubstr("'eos_token_id[1]'"));
  EXPECT_THAT(error_of([] { parse_generation_config(json{{"max_length", 2.5}}, "g.json"); }),
              HasSubstr("not an integer"));
  EXPECT_THAT(error_of([] { parse_generation_config(json{{"top_p", 0}}, "g.json"); }),
              HasSubstr("'top_p'"));
  EXPECT_THAT(error_of([] { parse_generation_config(json{{"temperature", -1}}, "g.json"); }),
              HasSubstr("'temperature'"));
  EXPECT_THAT(error_of([] { parse_generation_config(json::array(), "g.json"); }),
              HasSubstr("JSON object"));
  EXPECT_THAT(error_of([] {
                parse_generation_config(json{{"top_k", 18446744073709551615ull}}, "g.json");
              }),
              HasSubstr("too large"));
}

TEST(TokenizerConfig, ReadsStringAndAddedTokenForms) {
  json j = json::parse(R"({"bos_token": {"content": "<s>", "lstrip": false, "__type": "AddedToken"},
      "eos_token": "</s>", "unk_token": null, "add_bos_token": true, "add_eos_token": false,
      "model_max_length": 1000000000000000019884624838656, "clean_up_tokenization_spaces": false,
      "do_lower_case": true, "chat_template": "{{ messages }}"})");
  TokenizerConfig c = parse_tokenizer_config(j, "t.json");
  EXPECT_EQ(c.bos_token, "<s>");
  EXPECT_EQ(c.eos_token, "</s>");
  EXPECT_FALSE(c.unk_token);
  EXPECT_FALSE(c.pad_token);
  EXPECT_EQ(c.add_bos_token, true);
  EXPECT_EQ(c.add_eos_token, false);
  EXPECT_FALSE(c.model_max_length);  // the "no limit" sentinel
  EXPECT_EQ(c.clean_up_tokenization_spaces, false);
  EXPECT_TRUE(c.do_lower_case);
  ASSERT_NE(c.chat_template(), nullptr);
  EXPECT_EQ(c.chat_template()->source, "{{ messages }}");
  EXPECT_EQ(c.chat_template("tool_use"), nullptr);
}

TEST(TokenizerConfig, ReadsNamedTemplateList) {
  json j = json::parse(R"({"model_max_length": 8192, "chat_template": [
      {"name": "default", "template": "A"}, {"name": "tool_use", "template": "B"}]})");
  TokenizerConfig c = parse_tokenizer_config(j, "t.json");
  EXPECT_EQ(c.model_max_length, 8192);
  ASSERT_EQ(c.chat_templates.size(), 2u);
  EXPECT_EQ(c.chat_template()->source, "A");
  EXPECT_EQ(c.chat_template("tool_use")->source, "B");
}

TEST(TokenizerConfig, WrongTypesNameFileAndField) {
  EXPECT_THAT(error_of([] { parse_tokenizer_config(json{{"eos_token", 5}}, "tok/t.json"); }),
              AllOf(HasSubstr("tok/t.json"), HasSubstr("'eos_token'")));
  EXPECT_THAT(error_of([] { parse_tokenizer_config(json{{"bos_token", json::object()}}, "t"); }),
              HasSubstr("no 'content'"));
  EXPECT_THAT(error_of([] { parse_tokenizer_config(json{{"chat_template", 3}}, "t"); }),
              HasSubstr("'chat_template'"));
  EXPECT_THAT(error_of([] {
                parse_tokenizer_config(json::parse(R"({"chat_template": [{"name": "x"}]})"), "t");
              }),
              HasSubstr("chat_template[0]"));
  EXPECT_THAT(error_of([] { parse_tokenizer_config(json{{"add_bos_token", "yes"}}, "t"); }),
              HasSubstr("'add_bos_token'"));
}

TEST(TokenizerConfig, FileReaderPicksUpChatTemplateJinja) {
  TempDir dir;
  write_file_atomic(dir.file("tokenizer_config.json"), R"({"eos_token": "<eos>"})");
  write_file_atomic(dir.file("chat_template.jinja"), "{% for m in messages %}{% endfor %}");
  TokenizerConfig c = read_tokenizer_config(dir.file("tokenizer_config.json"));
  ASSERT_NE(c.chat_template(), nullptr);
  EXPECT_EQ(c.chat_template()->source, "{% for m in messages %}{% endfor %}");
}

TEST(ModelFiles, BrokenJsonNamesFileLineAndColumn) {
  TempDir dir;
  write_file_atomic(dir.file("generation_config.json"), "{\n  \"top_k\": ,\n}");
  EXPECT_THAT(error_of([&] { read_generation_config(dir.file("generation_config.json")); }),
              AllOf(HasSubstr("generation_config.json"), HasSubstr("line 2")));
}

TEST(Architecture, ReadsArchitecturesAndModelType) {
  ArchitectureInfo a = parse_architecture(
      json::parse(R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama"})"), "c");
  EXPECT_EQ(a.architecture, "LlamaForCausalLM");
  EXPECT_EQ(a.model_type, "llama");
  ArchitectureInfo none = parse_architecture(json::object(), "c");
  EXPECT_EQ(none.architecture, "");
  EXPECT_THAT(error_of([] { parse_architecture(json{{"architectures", "Bert"}}, "c.json"); }),
              AllOf(HasSubstr("c.json"), HasSubstr("'architectures'")));
}

TEST(ModelFormat, DetectsFromFolderMagicAndExtension) {
  TempDir dir;
  EXPECT_EQ(detect_model_format(dir.path()), ModelFormat::SafeTensorsFolder);
  write_file_atomic(dir.file("m.bin"), std::string("GGUF\3\0\0\0", 8));
  EXPECT_EQ(detect_model_format(dir.file("m.bin")), ModelFormat::Gguf);
  write_file_atomic(dir.file("w.bin"), std::string("\2\0\0\0\0\0\0\0{}", 10));
  EXPECT_EQ(detect_model_format(dir.file("w.bin")), ModelFormat::SafeTensorsFile);
  write_file_atomic(dir.file("x.safetensors"), "");
  EXPECT_EQ(detect_model_format(dir.file("x.safetensors")), ModelFormat::SafeTensorsFile);
  write_file_atomic(dir.file("notes.txt"), "hello world");
  EXPECT_THAT(error_of([&] { detect_model_format(dir.file("notes.txt")); }),
              AllOf(HasSubstr("notes.txt"), HasSubstr("unrecognised")));
  EXPECT_THAT(error_of([&] { detect_model_format(dir.file("absent")); }),
              HasSubstr("no such file"));
  EXPECT_STREQ(model_format_name(ModelFormat::Gguf), "gguf");
}

TEST(ModelFiles, RealMiniLMSideFiles) {
  E2LLM_REQUIRE_REAL_MODEL(dir, "all-MiniLM-L6-v2");
  ArchitectureInfo a = read_architecture(dir + "/config.json");
  EXPECT_EQ(a.architecture, "BertModel");
  EXPECT_EQ(a.model_type, "bert");
  TokenizerConfig t = read_tokenizer_config(dir + "/tokenizer_config.json");
  EXPECT_TRUE(t.do_lower_case);
  EXPECT_EQ(t.unk_token, "[UNK]");
  EXPECT_EQ(t.pad_token, "[PAD]");
  EXPECT_EQ(t.model_max_length, 512);
  EXPECT_TRUE(t.chat_templates.empty());
}
