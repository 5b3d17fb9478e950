// Chat templates: our native renderings equal transformers' apply_chat_template
// with the real Jinja templates (golden), detection, and model-folder lookup.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "e2llm/generate/chat_template.h"
#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "test_util.h"

namespace e2llm {
namespace {

std::vector<ChatMessage> messages_from_json(const nlohmann::json& j) {
  std::vector<ChatMessage> messages;
  for (const auto& m : j) messages.push_back({m.at("role"), m.at("content")});
  return messages;
}

TEST(ChatTemplate, RendersExactlyAsTransformers) {
  nlohmann::json golden = read_json_file(test::golden_dir() + "/generation/chat_templates.json");
  const auto& templates = golden.at("templates");
  ASSERT_EQ(templates.size(), 5u);
  size_t checked = 0;
  for (const auto& c : golden.at("cases")) {
    const std::string name = c.at("template");
    const auto& t = templates.at(name);
    ChatTemplate chat = chat_template_from_source(t.at("source"), t.at("bos_token"), t.at("eos_token"));
    EXPECT_EQ(chat.render(messages_from_json(c.at("messages")), c.at("add_generation_prompt")),
              c.at("expected").get<std::string>())
        << name << " " << c.at("messages").dump();
    ++checked;
  }
  EXPECT_EQ(checked, 40u);
}

TEST(ChatTemplate, DetectsFormatsAndDefaultSystemPrompts) {
  nlohmann::json templates = read_json_file(test::golden_dir() + "/generation/chat_templates.json")["templates"];
  EXPECT_EQ(detect_chat_format(templates["llama2"]["source"]), ChatFormat::kLlama2);
  EXPECT_EQ(detect_chat_format(templates["llama3"]["source"]), ChatFormat::kLlama3);
  EXPECT_EQ(detect_chat_format(templates["qwen2"]["source"]), ChatFormat::kChatML);
  EXPECT_EQ(detect_chat_format(templates["smollm2"]["source"]), ChatFormat::kChatML);
  EXPECT_EQ(detect_chat_format(templates["gemma3"]["source"]), ChatFormat::kGemma);
  EXPECT_EQ(detect_chat_format("{{ messages }}"), std::nullopt);
  EXPECT_EQ(chatml_default_system(templates["smollm2"]["source"]),
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  EXPECT_EQ(chatml_default_system(templates["qwen2"]["source"]), "You are a helpful assistant.");
  // A system turn built from the message itself is not a default prompt.
  EXPECT_EQ(chatml_default_system("{{'<|im_start|>system\\n' + message['content'] + '<|im_end|>'}}"), "");
}

TEST(ChatTemplate, OverrideAndFallback) {
  ChatTemplate t = chat_template_from_source("<|im_start|>", "", "", "gemma");
  EXPECT_EQ(t.format, ChatFormat::kGemma);
  EXPECT_EQ(t.render({{"user", "hi"}}), "<bos><start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(chat_template_from_source("", "", "", "", ChatFormat::kLlama3).format, ChatFormat::kLlama3);
  EXPECT_THROW(chat_template_from_source("", "", ""), Error);
  EXPECT_THROW(chat_template_from_source("", "", "", "vicuna"), Error);
}

TEST(ChatTemplate, RejectsRolesThatDoNotAlternate) {
  ChatTemplate gemma = ChatTemplate::defaults(ChatFormat::kGemma);
  EXPECT_THROW(gemma.render({{"user", "a"}, {"user", "b"}}), Error);
  ChatTemplate llama2 = ChatTemplate::defaults(ChatFormat::kLlama2);
  EXPECT_THROW(llama2.render({{"assistant", "a"}}), Error);
}

TEST(ChatTemplate, ReadsAModelFolder) {
  test::TempDir dir;
  nlohmann::json config = {{"bos_token", {{"content", "<s>"}, {"lstrip", false}}},
                           {"eos_token", "</s>"},
                           {"chat_template", "{{ bos_token + '[INST] ' }}"}};
  std::ofstream(dir.file("tokenizer_config.json")) << config.dump();
  ChatTemplate t = chat_template_for_model(dir.path());
  EXPECT_EQ(t.format, ChatFormat::kLlama2);
  EXPECT_EQ(t.render({{"user", "x"}, {"assistant", "y"}}), "<s>[INST] x [/INST] y </s>");
  // transformers 5 writes the template to its own file, which wins.
  std::ofstream(dir.file("chat_template.jinja")) << "{{ '<|im_start|>' }}";
  EXPECT_EQ(chat_template_for_model(dir.path()).format, ChatFormat::kChatML);
}

TEST(ChatTemplate, ErrorNamesTheModel) {
  test::TempDir dir;
  std::ofstream(dir.file("tokenizer_config.json")) << "{}";
  try {
    chat_template_for_model(dir.path());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.path()), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace e2llm
