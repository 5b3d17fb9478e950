// Native renderings of the four chat templates. Each function mirrors the
// published Jinja template line by line (quoted in the comments), including
// its trimming and its role checks, so the output is byte-identical.
#include "e2llm/generate/chat_template.h"

#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "e2llm/core/strings.h"
#include "e2llm/io/fs.h"
#include "e2llm/io/model_files.h"
#include "e2llm/tokenizer/tokenizer.h"
#include "e2llm/io/weights.h"

namespace e2llm {
namespace {

// Jinja's |trim is trim() from core/strings.h: Python's str.strip() on ASCII
// whitespace (Unicode spaces such as U+00A0 are kept, a documented difference).

// "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}raise_exception(...)"
void check_alternation(const std::vector<ChatMessage>& turns, size_t first, const char* format) {
  for (size_t i = first; i < turns.size(); ++i) {
    const bool at_user_slot = (i - first) % 2 == 0;
    E2LLM_CHECK((turns[i].role == "user") == at_user_slot,
                "chat template {}: conversation roles must alternate user/assistant/user/assistant/... "
                "(message {} has role '{}')",
                format, i, turns[i].role);
  }
}

bool starts_with_system(const std::vector<ChatMessage>& messages) {
  return !messages.empty() && messages[0].role == "system";
}

// meta-llama/Llama-2-*-chat-hf tokenizer_config.json chat_template.
std::string render_llama2(const ChatTemplate& t, const std::vector<ChatMessage>& messages) {
  const bool has_system = starts_with_system(messages);
  const size_t first = has_system ? 1 : 0;
  check_alternation(messages, first, "llama2");
  std::string out;
  for (size_t i = first; i < messages.size(); ++i) {
    std::string content = messages[i].content;
    if (i == first && has_system)
      content = fmt::format("<<SYS>>\n{}\n<</SYS>>\n\n{}", messages[0].content, content);
    if (messages[i].role == "user")
      out += fmt::format("{}[INST] {} [/INST]", t.bos_token, trim(content));
    else if (messages[i].role == "assistant")
      out += fmt::format(" {} {}", trim(content), t.eos_token);
  }
  return out;
}

// meta-llama/Meta-Llama-3-8B-Instruct: '<|start_header_id|>' + role +
// '<|end_header_id|>\n\n' + content | trim + '<|eot_id|>', bos before the first.
std::string render_llama3(const ChatTemplate& t, const std::vector<ChatMessage>& messages,
                          bool add_generation_prompt) {
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i == 0) out += t.bos_token;
    out += fmt::format("<|start_header_id|>{}<|end_header_id|>\n\n{}<|eot_id|>", messages[i].role,
                       trim(messages[i].content));
  }
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

// SmolLM2 / Qwen2: '<|im_start|>' + role + '\n' + content + '<|im_end|>\n',
// preceded by the default system turn when the first message is not one.
std::string render_chatml(const ChatTemplate& t, const std::vector<ChatMessage>& messages,
                          bool add_generation_prompt) {
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i == 0 && !starts_with_system(messages) && !t.default_system.empty())
      out += fmt::format("<|im_start|>system\n{}<|im_end|>\n", t.default_system);
    out += fmt::format("<|im_start|>{}\n{}<|im_end|>\n", messages[i].role, messages[i].content);
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

// google/gemma-3-*-it: the system text + "\n\n" opens the first user turn;
// assistant is called "model"; contents are trimmed.
std::string render_gemma(const ChatTemplate& t, const std::vector<ChatMessage>& messages,
                         bool add_generation_prompt) {
  const bool has_system = starts_with_system(messages);
  const size_t first = has_system ? 1 : 0;
  check_alternation(messages, first, "gemma");
  std::string out = t.bos_token;
  for (size_t i = first; i < messages.size(); ++i) {
    const std::string role = messages[i].role == "assistant" ? "model" : messages[i].role;
    out += fmt::format("<start_of_turn>{}\n", role);
    if (i == first && has_system) out += fmt::format("{}\n\n", messages[0].content);
    out += fmt::format("{}<end_of_turn>\n", trim(messages[i].content));
  }
  if (add_generation_prompt) out += "<start_of_turn>model\n";
  return out;
}

}  // namespace

const char* to_string(ChatFormat format) {
  switch (format) {
    case ChatFormat::kLlama2: return "llama2";
    case ChatFormat::kLlama3: return "llama3";
    case ChatFormat::kChatML: return "chatml";
    case ChatFormat::kGemma: return "gemma";
  }
  return "unknown";
}

ChatFormat parse_chat_format(const std::string& name) {
  for (ChatFormat f : {ChatFormat::kLlama2, ChatFormat::kLlama3, ChatFormat::kChatML, ChatFormat::kGemma})
    if (name == to_string(f)) return f;
  fail("unknown chat template '{}' (choose llama2, llama3, chatml or gemma)", name);
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
  switch (format) {
    case ChatFormat::kLlama2: return render_llama2(*this, messages);
    case ChatFormat::kLlama3: return render_llama3(*this, messages, add_generation_prompt);
    case ChatFormat::kChatML: return render_chatml(*this, messages, add_generation_prompt);
    case ChatFormat::kGemma: return render_gemma(*this, messages, add_generation_prompt);
  }
  fail("chat template: unknown format {}", static_cast<int>(format));
}

ChatTemplate ChatTemplate::defaults(ChatFormat format) {
  switch (format) {
    case ChatFormat::kLlama2: return {format, "<s>", "</s>", ""};
    case ChatFormat::kLlama3: return {format, "<|begin_of_text|>", "<|eot_id|>", ""};
    case ChatFormat::kChatML: return {format, "", "<|im_end|>", ""};
    case ChatFormat::kGemma: return {format, "<bos>", "<eos>", ""};
  }
  fail("chat template: unknown format {}", static_cast<int>(format));
}

std::optional<ChatFormat> detect_chat_format(const std::string& jinja_source) {
  if (jinja_source.find("<|im_start|>") != std::string::npos) return ChatFormat::kChatML;
  if (jinja_source.find("<|start_header_id|>") != std::string::npos) return ChatFormat::kLlama3;
  if (jinja_source.find("<start_of_turn>") != std::string::npos) return ChatFormat::kGemma;
  if (jinja_source.find("[INST]") != std::string::npos) return ChatFormat::kLlama2;
  return std::nullopt;
}

std::string chatml_default_system(const std::string& jinja_source) {
  // A literal system turn inside a Jinja string: '<|im_start|>system\n...<|im_end|>'.
  // Turns built from message['content'] contain quotes or braces and are skipped.
  // The newline is an escape ("\\n") in most sources and a real one in some (SmolLM2's GGUF).
  const std::string close = "<|im_end|>";
  for (const std::string open : {"<|im_start|>system\\n", "<|im_start|>system\n"}) {
    for (size_t at = jinja_source.find(open); at != std::string::npos; at = jinja_source.find(open, at + 1)) {
      const size_t begin = at + open.size();
      const size_t end = jinja_source.find(close, begin);
      if (end == std::string::npos) break;
      std::string text = jinja_source.substr(begin, end - begin);
      if (text.find_first_of("'\"{}") != std::string::npos) continue;
      return replace_all(text, "\\n", "\n");
    }
  }
  return "";
}

ChatTemplate chat_template_from_source(const std::string& jinja_source, const std::string& bos_token,
                                       const std::string& eos_token, const std::string& override_format,
                                       std::optional<ChatFormat> fallback) {
  std::optional<ChatFormat> format =
      override_format.empty() ? detect_chat_format(jinja_source) : parse_chat_format(override_format);
  if (!format) format = fallback;
  E2LLM_CHECK(format.has_value(),
              "no chat template recognised (the model's template has none of the llama2, llama3, "
              "chatml or gemma markers); choose one with --chat-template");
  ChatTemplate t = ChatTemplate::defaults(*format);
  if (!bos_token.empty()) t.bos_token = bos_token;
  if (!eos_token.empty()) t.eos_token = eos_token;
  if (*format == ChatFormat::kChatML) t.default_system = chatml_default_system(jinja_source);
  return t;
}

ChatTemplate chat_template_for_model(const std::string& model_path, const std::string& override_format,
                                     std::optional<ChatFormat> fallback) {
  std::string source, bos, eos;
  if (model_path.ends_with(".gguf")) {
    auto metadata = open_weights(model_path)->metadata();
    if (auto it = metadata.find("tokenizer.chat_template"); it != metadata.end()) source = it->second;
  } else {
    const std::string jinja = model_path + "/chat_template.jinja";
    const std::string config_path = model_path + "/tokenizer_config.json";
    const TokenizerConfig config = file_exists(config_path) ? read_tokenizer_config(config_path) : TokenizerConfig{};
    // transformers 5 writes the template to its own file, which wins.
    if (file_exists(jinja)) source = read_text_file(jinja);
    else if (const ChatTemplateSource* t = config.chat_template()) source = t->source;
    bos = config.bos_token.value_or("");
    eos = config.eos_token.value_or("");
  }
  try {
    return chat_template_from_source(source, bos, eos, override_format, fallback);
  } catch (const Error& e) {
    fail("{}: {}", model_path, e.what());
  }
}

std::optional<ChatFormat> chat_format_from_vocabulary(const Tokenizer& tokenizer) {
  if (tokenizer.token_to_id("<|im_start|>")) return ChatFormat::kChatML;
  if (tokenizer.token_to_id("<|start_header_id|>")) return ChatFormat::kLlama3;
  if (tokenizer.token_to_id("<start_of_turn>")) return ChatFormat::kGemma;
  return std::nullopt;
}

ChatTemplate chat_template_for_decoder(const std::string& model_arg, const std::string& model_dir,
                                       const Tokenizer& tokenizer, const std::string& override_format) {
  const std::string& path = model_arg.ends_with(".gguf") ? model_arg : model_dir;
  return chat_template_for_model(path, override_format, chat_format_from_vocabulary(tokenizer));
}

std::vector<int64_t> chat_prompt_ids(const ChatTemplate& chat, const Tokenizer& tokenizer, const std::string& system,
                                     std::string user) {
  std::vector<ChatMessage> messages;
  if (!system.empty()) messages.push_back({"system", system});
  messages.push_back({"user", std::move(user)});
  return tokenizer.encode(chat.render(messages, /*add_generation_prompt=*/true), false).ids;
}

}  // namespace e2llm
