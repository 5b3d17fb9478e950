// `e2llm serve`: an HTTP server speaking the OpenAI API (chat completions,
// completions, models) over an E2LLM model, with a store of encoded documents
// (document_store.h) so that a document is chunked and encoded once and then
// questioned many times.
//
// Threads: the HTTP library's worker threads parse, check and answer
// requests; one compute thread owns the model. It runs the queued jobs
// (encode a document; read a question's documents and prefill it) one after
// another, and between them decodes one token for every answer in flight
// (continuous batching: answers join and leave the batch between steps). A
// full queue answers 503 with Retry-After; a streaming client that
// disconnects cancels its answer at the next generated piece of text.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace e2llm {

class E2llmModel;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                  // 0: any free port (see Server::port())
  std::string store_folder;         // "" keeps documents in memory only
  int64_t store_max_mb = 1024;      // least recently used documents go past this
  int64_t read_cache_mb = 512;      // decoder states after reading documents (0: none kept)
  std::string api_key;              // "" accepts every request
  int64_t max_queue = 16;           // jobs waiting for the compute thread
  int64_t max_body_mb = 64;         // larger request bodies get 413
  int64_t http_threads = 8;
  int64_t default_max_tokens = 256; // when a request gives no max_tokens
  int64_t parallel = 8;             // answers decoded together (continuous batching)
  std::string model_name = "e2llm"; // the id /v1/models lists and responses carry
};

class Server {
 public:
  // `load_model` runs on the compute thread once run() has bound the port;
  // until it returns, /health answers 503 and every model route 503 too.
  Server(std::function<std::unique_ptr<E2llmModel>()> load_model, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port (throws e2llm::Error naming them when it cannot), then
  // serves until stop(). Returns after every request has finished.
  void run();
  // Binds only; run() then serves. For tests that need the port first.
  int bind();
  int port() const;
  bool ready() const;  // the model is loaded
  // Stops accepting, cancels the running job and fails the queued ones. Safe
  // from any thread (not from a signal handler: see tools/e2llm/cmd_serve.cpp).
  void stop();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace e2llm
