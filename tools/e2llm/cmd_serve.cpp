// e2llm serve: the OpenAI-compatible HTTP server over a trained E2LLM
// checkpoint, with a store of encoded documents (include/e2llm/serve/).
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <thread>

#include "command.h"
#include "e2llm/core/error.h"
#include "e2llm/e2llm/e2llm_model.h"
#include "e2llm/io/fs.h"
#include "e2llm/serve/server.h"

namespace e2llm::cli {
namespace {

struct ServeArgs {
  std::string model, alias, api_key_file, weights = "auto";
  ServerOptions server;
};

std::string read_api_key(const std::string& path) {
  std::string key = read_text_file(path);
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  E2LLM_CHECK(!key.empty(), "--api-key-file {} is empty", path);
  return key;
}

// The name clients see: --alias, else the checkpoint folder's name.
std::string model_name(const ServeArgs& a) {
  if (!a.alias.empty()) return a.alias;
  std::filesystem::path p = std::filesystem::weakly_canonical(a.model);
  if (p.filename().string().rfind("step-", 0) == 0) p = p.parent_path();
  return p.filename().string().empty() ? "e2llm" : p.filename().string();
}

void run_serve(ServeArgs a) {
  E2LLM_CHECK(a.server.api_key.empty() || a.api_key_file.empty(), "give --api-key or --api-key-file, not both");
  if (!a.api_key_file.empty()) a.server.api_key = read_api_key(a.api_key_file);
  if (a.model.empty()) a.model = shipped_model_dir();
  E2LLM_CHECK(is_directory(a.model), "--model {}: no such checkpoint folder", a.model);
  a.server.model_name = model_name(a);
  if (global_options().log_level == "warn") spdlog::set_level(spdlog::level::info);  // a server reports what it does

  // SIGINT/SIGTERM reach one thread, which stops the server (not a handler:
  // stopping takes locks). Blocked before any other thread starts, so all inherit it.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const std::string checkpoint = a.model, weights = a.weights, device = global_options().device;
  Server server([checkpoint, weights, device] { return load_e2llm(checkpoint, weights, device); }, a.server);
  std::atomic<bool> finished{false};
  std::thread watcher([&] {
    const timespec tick{0, 200 * 1000 * 1000};
    while (!finished) {
      if (sigtimedwait(&signals, nullptr, &tick) > 0) {
        spdlog::info("serve: stopping (signal)");
        server.stop();
        return;
      }
    }
  });
  try {
    server.run();
  } catch (...) {
    finished = true;
    watcher.join();
    throw;
  }
  finished = true;
  watcher.join();
}

CommandRegistrar registrar("serve", [](CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "serve",
      "Serve a trained E2LLM checkpoint over HTTP with the OpenAI API (/v1/chat/completions, /v1/completions, "
      "/v1/models) and a store of encoded documents (/v1/documents); logs at info unless --log-level is given");
  auto a = std::make_shared<ServeArgs>();
  cmd->add_option("--model", a->model,
                  "Checkpoint folder (a training output folder or one step folder; default: the shipped model, "
                  "docs/model.md, or $E2LLM_MODEL)");
  add_weights_option(cmd, a->weights);
  cmd->add_option("--alias", a->alias, "Model name clients see (default: the checkpoint folder's name)");
  cmd->add_option("--host", a->server.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", a->server.port, "Port to listen on (0: any free port, printed at start)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--store", a->server.store_folder,
                  "Folder of encoded documents, kept across restarts (default: none, documents live in memory)");
  cmd->add_option("--store-max-mb", a->server.store_max_mb,
                  "Largest store in MiB; the least recently used documents are dropped past it")
      ->check(CLI::Range(1, 1 << 30))
      ->capture_default_str();
  cmd->add_option("--read-cache-mb", a->server.read_cache_mb,
                  "Memory in MiB for the decoder's state after reading documents (their KV cache, ~25 MiB for a "
                  "QMSum meeting with SmolLM2), so further questions about the same documents prefill only "
                  "themselves; least recently used first out, 0 keeps none")
      ->check(CLI::Range(0, 1 << 30))
      ->capture_default_str();
  cmd->add_option("--api-key", a->server.api_key, "Require 'Authorization: Bearer KEY' (not on /health)");
  cmd->add_option("--api-key-file", a->api_key_file, "Read the API key from this file (keeps it out of `ps`)");
  cmd->add_option("--parallel", a->server.parallel,
                  "Answers decoded together in one batch (continuous batching); more wait in the queue")
      ->check(positive_number())
      ->capture_default_str();
  cmd->add_option("--max-queue", a->server.max_queue, "Requests that may wait for the model; more get 503")
      ->check(positive_number())
      ->capture_default_str();
  cmd->add_option("--max-body-mb", a->server.max_body_mb, "Largest request body in MiB; larger ones get 413")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--http-threads", a->server.http_threads,
                  "Threads reading and writing HTTP (each streaming client holds one)")
      ->check(positive_number())
      ->capture_default_str();
  cmd->add_option("--max-tokens", a->server.default_max_tokens,
                  "Longest answer when a request gives no max_tokens")
      ->check(positive_number())
      ->capture_default_str();
  cmd->callback([a] { run_serve(*a); });
});

}  // namespace
}  // namespace e2llm::cli
