// The OpenAI HTTP API as e2llm serves it: request bodies read and checked
// into plain structs, responses and stream chunks written from them. Knows no
// model and no HTTP library (torch-free, so fuzz/fuzz_openai_request.cpp can
// run it under sanitizers).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace e2llm::serve {

// An error a client caused or meets, with its HTTP status and OpenAI type
// ("invalid_request_error", "authentication_error", "not_found_error", ...).
class HttpError : public std::runtime_error {
 public:
  HttpError(int status, std::string type, const std::string& message, std::string code = "")
      : std::runtime_error(message), status(status), type(std::move(type)), code(std::move(code)) {}
  int status;
  std::string type, code;
};

// {"error": {"message", "type", "code"}} (code null when "")
nlohmann::json error_json(const std::string& message, const std::string& type, const std::string& code);

enum class Endpoint { kChat, kCompletion };

struct CompletionRequest {
  Endpoint endpoint = Endpoint::kChat;
  std::string prompt;                  // the question the decoder reads after the soft tokens
  std::vector<std::string> documents;  // stored document ids ("documents")
  std::optional<std::string> context;  // inline text ("context"), stored as a document
  int64_t max_tokens = 0;              // 0: the server's default
  bool greedy = true;                  // temperature absent or 0
  double temperature = 1.0, top_p = 1.0;
  uint64_t seed = 0;
  // Extensions, as vLLM names them, with transformers' meanings (greedy too);
  // absent, the model's own answer defaults apply (E2llmConfig):
  std::optional<double> repetition_penalty;   // "repetition_penalty", > 0; 1 = off
  std::optional<int64_t> no_repeat_ngram_size;  // "no_repeat_ngram_size", >= 0; 0 = off
  std::vector<std::string> stop;
  bool ignore_eos = false;  // "ignore_eos" (vLLM's and llama-server's extension): exactly max_tokens tokens
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// Reads a /v1/chat/completions or /v1/completions body. Throws HttpError 400
// naming the field for anything malformed: not JSON, missing or empty
// messages/prompt, wrong types, bad numbers (NaN cannot be written in JSON;
// negative or out-of-range ones are refused), n != 1. Fields e2llm does not
// use are ignored. A chat prompt is the last user message when it is the only
// one after the system messages; otherwise the conversation as
// "System: ...", "User: ...", "Assistant: ..." lines.
CompletionRequest parse_completion_request(const std::string& body, Endpoint endpoint);

// {"text": "...", "metadata": {...}} of POST /v1/documents.
struct DocumentRequest {
  std::string text;
  nlohmann::json metadata = nlohmann::json::object();
};
DocumentRequest parse_document_request(const std::string& body);

// What a finished (or streaming) completion reports.
struct CompletionResult {
  std::string text;
  std::string finish_reason = "stop";  // "stop" or "length"
  int64_t prompt_tokens = 0, completion_tokens = 0;
  double encode_ms = 0, prefill_ms = 0, decode_ms = 0;
  int64_t chunks_from_store = 0, chunks_encoded = 0;
  std::vector<std::string> documents;  // the ids read, the inline context's included
};

struct ResponseIds {
  std::string id;     // "chatcmpl-..." / "cmpl-...", the same on every stream chunk
  int64_t created = 0;
  std::string model;
};

// The whole non-streamed response.
nlohmann::json completion_response(const CompletionRequest& request, const ResponseIds& ids,
                                   const CompletionResult& result);
// One stream chunk: the role (chat, first chunk), a piece of text, the finish
// reason (last chunk), or the usage chunk with "choices": [].
nlohmann::json stream_role_chunk(const ResponseIds& ids);
nlohmann::json stream_text_chunk(const CompletionRequest& request, const ResponseIds& ids, const std::string& text);
nlohmann::json stream_finish_chunk(const CompletionRequest& request, const ResponseIds& ids,
                                   const std::string& finish_reason);
nlohmann::json stream_usage_chunk(const CompletionRequest& request, const ResponseIds& ids,
                                  const CompletionResult& result);
// "data: <json>\n\n"; JSON text with invalid UTF-8 replaced, never thrown on.
std::string sse_event(const nlohmann::json& chunk);
std::string dump_json(const nlohmann::json& j);

}  // namespace e2llm::serve
