// Chat templates rendered natively (no Jinja engine): Llama 2 "[INST]",
// Llama 3 headers, ChatML (Qwen, SmolLM2) and Gemma turns. Each renders
// exactly what transformers' apply_chat_template renders with the model's
// published Jinja template (tests/golden/generation/chat_templates.json).
// Which one a model uses is detected from markers in its Jinja source
// (tokenizer_config.json / chat_template.jinja / GGUF tokenizer.chat_template).
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace e2llm {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

enum class ChatFormat { kLlama2, kLlama3, kChatML, kGemma };

// "llama2", "llama3", "chatml", "gemma".
const char* to_string(ChatFormat format);
ChatFormat parse_chat_format(const std::string& name);  // throws naming the choices

struct ChatTemplate {
  ChatFormat format = ChatFormat::kChatML;
  std::string bos_token;  // written where the template writes bos_token ("" = none)
  std::string eos_token;  // Llama 2 closes assistant turns with it
  // ChatML: the system turn the template inserts when the conversation has
  // none (SmolLM2: "You are a helpful AI assistant named SmolLM, trained by
  // Hugging Face"; Qwen2: "You are a helpful assistant."). Empty = none.
  std::string default_system;

  // Renders the conversation; add_generation_prompt appends the opening of
  // the assistant's turn (Llama 2's template has none: it ends with [/INST]).
  // Throws e2llm::Error for roles the template rejects (Llama 2 and Gemma
  // require user/assistant alternation after an optional system message).
  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt = true) const;

  // The template a format uses by default, with its usual special tokens.
  static ChatTemplate defaults(ChatFormat format);
};

// The format a Jinja chat template implements, from its markers; nullopt when
// none is recognised.
std::optional<ChatFormat> detect_chat_format(const std::string& jinja_source);

// The ChatML default system prompt written in a Jinja source, if any.
std::string chatml_default_system(const std::string& jinja_source);

// The chat template for a model: an HF folder (chat_template.jinja, or
// tokenizer_config.json's chat_template, bos_token, eos_token) or a .gguf
// (tokenizer.chat_template metadata). `override_format` ("llama2", ... or "")
// wins over detection. `fallback` is used when nothing is recognised (e.g. a
// GGUF without a template); with neither, throws naming the model.
ChatTemplate chat_template_for_model(const std::string& model_path, const std::string& override_format = "",
                                     std::optional<ChatFormat> fallback = std::nullopt);

// Builds the template from a Jinja source and special tokens (what
// chat_template_for_model does once it has read them).
ChatTemplate chat_template_from_source(const std::string& jinja_source, const std::string& bos_token,
                                       const std::string& eos_token, const std::string& override_format = "",
                                       std::optional<ChatFormat> fallback = std::nullopt);

class Tokenizer;

// A chat format for a model without a template (e.g. a GGUF lacking
// tokenizer.chat_template), guessed from its vocabulary's special tokens.
std::optional<ChatFormat> chat_format_from_vocabulary(const Tokenizer& tokenizer);

// The template of a decoder given as `model_arg` (a .gguf file, else an HF
// path whose folder is `model_dir`), falling back on its vocabulary.
ChatTemplate chat_template_for_decoder(const std::string& model_arg, const std::string& model_dir,
                                       const Tokenizer& tokenizer, const std::string& override_format = "");

// Ids of [system] user + the assistant's opening, rendered by `chat`. The
// rendered text carries its own special tokens (as HF apply_chat_template's
// tokenize=True), so none are added.
std::vector<int64_t> chat_prompt_ids(const ChatTemplate& chat, const Tokenizer& tokenizer, const std::string& system,
                                     std::string user);

}  // namespace e2llm
