// libFuzzer target: the request bodies of e2llm serve (/v1/chat/completions,
// /v1/completions, /v1/documents) on arbitrary bytes, and the responses and
// stream chunks written from whatever was accepted. Any outcome other than a
// parsed request or serve::HttpError (status 400) is a bug.
// fuzz-sources: src/serve/openai_protocol.cpp src/io/json_fields.cpp
#include <cstdint>
#include <cstdlib>
#include <string>

#include "serve/openai_protocol.h"

namespace {

using namespace e2llm::serve;

void check_request(const std::string& body, Endpoint endpoint) {
  try {
    const CompletionRequest r = parse_completion_request(body, endpoint);
    if (r.documents.empty() && !r.context) std::abort();  // must have been refused
    CompletionResult result;
    result.text = r.prompt;  // any text, invalid UTF-8 included, must serialise
    const ResponseIds ids{"id", 0, "m"};
    dump_json(completion_response(r, ids, result));
    sse_event(stream_text_chunk(r, ids, r.prompt));
    sse_event(stream_usage_chunk(r, ids, result));
  } catch (const HttpError& e) {
    if (e.status != 400) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  check_request(body, Endpoint::kChat);
  check_request(body, Endpoint::kCompletion);
  try {
    parse_document_request(body);
  } catch (const HttpError& e) {
    if (e.status != 400) std::abort();
  }
  return 0;
}
