#include "serve/openai_protocol.h"

#include <set>

#include "e2llm/core/error.h"
#include "io/json_fields.h"

namespace e2llm::serve {
namespace jf = json_fields;
namespace {

HttpError bad_request(const std::string& message) { return HttpError(400, "invalid_request_error", message); }

nlohmann::json parse_object(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw bad_request("the request body is not valid JSON (UTF-8 text)");
  if (!j.is_object()) throw bad_request("the request body must be a JSON object, got " + jf::shown(j));
  return j;
}

// A message's content: a string, or a list of {"type": "text", "text": ...} parts.
std::string message_content(const nlohmann::json& content, const jf::Where& where) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array())
    throw bad_request(where.describe() + " must be a string or a list of text parts, got " + jf::shown(content));
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const jf::Where part = where.index(i);
    jf::require_object(content[i], part);
    const std::string type = jf::required<std::string>(content[i], "type", part);
    if (type != "text") throw bad_request(part.key("type").describe() + " is '" + type + "': e2llm reads text parts only");
    text += jf::required<std::string>(content[i], "text", part);
  }
  return text;
}

std::string chat_prompt(const nlohmann::json& body) {
  const jf::Where messages_where = jf::Where().key("messages");
  const nlohmann::json& messages = jf::field(body, "messages");
  if (!messages.is_array()) throw bad_request("field 'messages' must be a list of messages, got " + jf::shown(messages));
  if (messages.empty()) throw bad_request("field 'messages' is empty: give at least one user message");
  static const std::set<std::string> roles = {"system", "developer", "user", "assistant", "tool"};
  struct Turn {
    std::string role, text;
  };
  std::vector<Turn> turns;
  for (size_t i = 0; i < messages.size(); ++i) {
    const jf::Where where = messages_where.index(i);
    jf::require_object(messages[i], where);
    const std::string role = jf::required<std::string>(messages[i], "role", where);
    if (!roles.count(role))
      throw bad_request(where.key("role").describe() + " is '" + role +
                        "'; expected system, developer, user, assistant or tool");
    const nlohmann::json* content = jf::find(messages[i], "content", where);
    turns.push_back({role, content ? message_content(*content, where.key("content")) : ""});
  }
  if (turns.back().role != "user") throw bad_request("the last message must be the user's question");
  size_t first_dialogue = 0;
  while (turns[first_dialogue].role == "system" || turns[first_dialogue].role == "developer") ++first_dialogue;
  if (first_dialogue + 1 == turns.size() && first_dialogue == 0) return turns.back().text;
  std::string prompt;
  for (const Turn& t : turns) {
    std::string label = t.role == "developer" ? "System" : t.role;
    label[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(label[0])));
    prompt += label + ": " + t.text + "\n";
  }
  return prompt;
}

std::string completion_prompt(const nlohmann::json& body) {
  const nlohmann::json& prompt = jf::field(body, "prompt");
  if (prompt.is_string()) return prompt.get<std::string>();
  if (prompt.is_array() && prompt.size() == 1 && prompt[0].is_string()) return prompt[0].get<std::string>();
  throw bad_request("field 'prompt' must be a string (or a list of one string), got " + jf::shown(prompt));
}

void read_sampling(const nlohmann::json& body, CompletionRequest& r) {
  if (auto t = jf::optional<double>(body, "temperature")) {
    if (*t < 0 || *t > 2) throw bad_request("field 'temperature' must be between 0 and 2, got " + std::to_string(*t));
    r.greedy = *t == 0;
    r.temperature = r.greedy ? 1.0 : *t;
  }
  if (auto p = jf::optional<double>(body, "top_p")) {
    if (!(*p > 0 && *p <= 1)) throw bad_request("field 'top_p' must be in (0, 1], got " + std::to_string(*p));
    r.top_p = *p;
  }
  if (auto p = jf::optional<double>(body, "repetition_penalty")) {
    if (!(*p > 0 && *p <= 10))
      throw bad_request("field 'repetition_penalty' must be in (0, 10], got " + std::to_string(*p));
    r.repetition_penalty = *p;
  }
  if (auto n = jf::optional<int64_t>(body, "no_repeat_ngram_size")) {
    if (*n < 0 || *n > 64)
      throw bad_request("field 'no_repeat_ngram_size' must be in 0..64, got " + std::to_string(*n));
    r.no_repeat_ngram_size = *n;
  }
  if (const nlohmann::json* seed = jf::find(body, "seed")) {
    // OpenAI's seed is a signed integer; any 64-bit value is a fine seed.
    r.seed = seed->is_number_integer() && seed->get<int64_t>() < 0
                 ? static_cast<uint64_t>(seed->get<int64_t>())
                 : jf::read<uint64_t>(*seed, jf::Where().key("seed"));
  }
}

}  // namespace

std::string dump_json(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

nlohmann::json error_json(const std::string& message, const std::string& type, const std::string& code) {
  return {{"error", {{"message", message}, {"type", type}, {"code", code.empty() ? nlohmann::json() : nlohmann::json(code)}}}};
}

CompletionRequest parse_completion_request(const std::string& body_text, Endpoint endpoint) {
  const nlohmann::json body = parse_object(body_text);
  CompletionRequest r;
  r.endpoint = endpoint;
  try {
    r.prompt = endpoint == Endpoint::kChat ? chat_prompt(body) : completion_prompt(body);
    if (const nlohmann::json* docs = jf::find(body, "documents")) {
      r.documents = jf::read<std::vector<std::string>>(*docs, jf::Where().key("documents"));
    }
    r.context = jf::optional<std::string>(body, "context");
    // max_completion_tokens is the newer name; max_tokens the older one.
    std::optional<int64_t> max_tokens = jf::optional<int64_t>(body, "max_completion_tokens");
    if (!max_tokens) max_tokens = jf::optional<int64_t>(body, "max_tokens");
    if (max_tokens && *max_tokens < 1)
      throw bad_request("field 'max_tokens' must be at least 1, got " + std::to_string(*max_tokens));
    r.max_tokens = max_tokens.value_or(0);
    read_sampling(body, r);
    if (const nlohmann::json* stop = jf::find(body, "stop")) {
      r.stop = jf::one_or_list<std::string>(*stop, jf::Where().key("stop"));
      if (r.stop.size() > 4) throw bad_request("field 'stop' holds at most 4 strings");
      for (const std::string& s : r.stop)
        if (s.empty()) throw bad_request("field 'stop' holds an empty string");
    }
    r.ignore_eos = jf::value_or<bool>(body, "ignore_eos", false);
    if (auto n = jf::optional<int64_t>(body, "n"); n && *n != 1)
      throw bad_request("field 'n' must be 1: e2llm returns one choice per request");
    r.stream = jf::value_or<bool>(body, "stream", false);
    if (const nlohmann::json* options = jf::find(body, "stream_options")) {
      jf::require_object(*options, jf::Where().key("stream_options"));
      r.include_usage = jf::value_or<bool>(*options, "include_usage", false, jf::Where().key("stream_options"));
    }
  } catch (const Error& e) {
    throw bad_request(e.what());
  }
  if (r.documents.empty() && !r.context)
    throw bad_request("nothing to read: give \"documents\": [ids from POST /v1/documents] or \"context\": \"text\"");
  return r;
}

DocumentRequest parse_document_request(const std::string& body_text) {
  const nlohmann::json body = parse_object(body_text);
  DocumentRequest r;
  try {
    r.text = jf::required<std::string>(body, "text");
    if (const nlohmann::json* meta = jf::find(body, "metadata")) {
      jf::require_object(*meta, jf::Where().key("metadata"));
      r.metadata = *meta;
    }
  } catch (const Error& e) {
    throw bad_request(e.what());
  }
  if (r.text.empty()) throw bad_request("field 'text' is empty");
  return r;
}

namespace {

const char* object_name(const CompletionRequest& r, bool chunk) {
  if (r.endpoint == Endpoint::kCompletion) return "text_completion";
  return chunk ? "chat.completion.chunk" : "chat.completion";
}

nlohmann::json usage_json(const CompletionResult& result) {
  return {{"prompt_tokens", result.prompt_tokens},
          {"completion_tokens", result.completion_tokens},
          {"total_tokens", result.prompt_tokens + result.completion_tokens}};
}

// Beyond OpenAI's schema, as llama.cpp's server adds "timings".
nlohmann::json timings_json(const CompletionResult& result) {
  return {{"encode_ms", result.encode_ms}, {"prefill_ms", result.prefill_ms}, {"decode_ms", result.decode_ms},
          {"chunks_from_store", result.chunks_from_store}, {"chunks_encoded", result.chunks_encoded}};
}

nlohmann::json chunk_base(const CompletionRequest& r, const ResponseIds& ids) {
  return {{"id", ids.id}, {"object", object_name(r, true)}, {"created", ids.created}, {"model", ids.model}};
}

nlohmann::json choice(const CompletionRequest& r, const std::string& text, const nlohmann::json& finish_reason,
                      bool delta) {
  nlohmann::json c = {{"index", 0}, {"finish_reason", finish_reason}};
  if (r.endpoint == Endpoint::kCompletion) {
    c["text"] = text;
    c["logprobs"] = nullptr;
  } else if (delta) {
    c["delta"] = text.empty() && !finish_reason.is_null() ? nlohmann::json::object()
                                                          : nlohmann::json{{"content", text}};
  } else {
    c["message"] = {{"role", "assistant"}, {"content", text}};
  }
  return c;
}

}  // namespace

nlohmann::json completion_response(const CompletionRequest& request, const ResponseIds& ids,
                                   const CompletionResult& result) {
  nlohmann::json j = {{"id", ids.id},
                      {"object", object_name(request, false)},
                      {"created", ids.created},
                      {"model", ids.model},
                      {"choices", nlohmann::json::array({choice(request, result.text, result.finish_reason, false)})},
                      {"usage", usage_json(result)}};
  j["timings"] = timings_json(result);
  j["documents"] = result.documents;
  return j;
}

nlohmann::json stream_role_chunk(const ResponseIds& ids) {
  nlohmann::json j = chunk_base(CompletionRequest{}, ids);
  j["choices"] = nlohmann::json::array(
      {{{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"finish_reason", nullptr}}});
  return j;
}

nlohmann::json stream_text_chunk(const CompletionRequest& request, const ResponseIds& ids, const std::string& text) {
  nlohmann::json j = chunk_base(request, ids);
  j["choices"] = nlohmann::json::array({choice(request, text, nullptr, true)});
  return j;
}

nlohmann::json stream_finish_chunk(const CompletionRequest& request, const ResponseIds& ids,
                                   const std::string& finish_reason) {
  nlohmann::json j = chunk_base(request, ids);
  j["choices"] = nlohmann::json::array({choice(request, "", finish_reason, true)});
  return j;
}

nlohmann::json stream_usage_chunk(const CompletionRequest& request, const ResponseIds& ids,
                                  const CompletionResult& result) {
  nlohmann::json j = chunk_base(request, ids);
  j["choices"] = nlohmann::json::array();
  j["usage"] = usage_json(result);
  j["timings"] = timings_json(result);
  return j;
}

std::string sse_event(const nlohmann::json& chunk) { return "data: " + dump_json(chunk) + "\n\n"; }

}  // namespace e2llm::serve
