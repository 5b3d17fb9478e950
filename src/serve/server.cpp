#include "e2llm/serve/server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <list>
#include <mutex>

#include "e2llm/core/error.h"
#include "e2llm/e2llm/e2llm_model.h"
#include "e2llm/generate/batch_generate.h"
#include "e2llm/serve/document_store.h"
#include "serve/client_connection.h"
#include "serve/compute_queue.h"
#include "serve/openai_protocol.h"
#include "serve/server_metrics.h"

namespace e2llm {
namespace {

using Clock = std::chrono::steady_clock;
using serve::CompletionRequest;
using serve::CompletionResult;
using serve::HttpError;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Thrown from the streaming callback to abandon a job whose client left.
struct Cancelled {};

// The decoder's state after reading a list of documents, by their ids in
// order, least recently used first out past `capacity` bytes: the next
// question about the same documents prefills only itself. Compute thread only.
class ReadCache {
 public:
  explicit ReadCache(size_t capacity) : capacity_(capacity) {}
  std::shared_ptr<const ReadDocument> get(const std::string& key) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first != key) continue;
      entries_.splice(entries_.begin(), entries_, it);
      return it->second;
    }
    return nullptr;
  }
  void erase(const std::string& key) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first != key) continue;
      bytes_ -= it->second->bytes();
      entries_.erase(it);
      return;
    }
  }
  void put(const std::string& key, std::shared_ptr<const ReadDocument> read) {
    erase(key);  // read again (a document dropped from the store): the new state replaces the old
    const size_t bytes = read->bytes();
    if (bytes > capacity_) return;
    entries_.emplace_front(key, std::move(read));
    bytes_ += bytes;
    while (bytes_ > capacity_) {
      bytes_ -= entries_.back().second->bytes();
      entries_.pop_back();
    }
  }

 private:
  size_t capacity_, bytes_ = 0;
  std::list<std::pair<std::string, std::shared_ptr<const ReadDocument>>> entries_;  // most recent first
};

// How often a waiting request looks whether its client is still there.
constexpr auto kClientCheckInterval = std::chrono::milliseconds(100);

void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(serve::dump_json(body), "application/json");
}

void send_error(httplib::Response& res, const HttpError& e) {
  res.status = e.status;
  if (e.status == 503 || e.status == 429) res.set_header("Retry-After", "1");
  res.set_content(serve::dump_json(serve::error_json(e.what(), e.type, e.code)), "application/json");
}

HttpError overloaded() {
  return HttpError(503, "server_overloaded", "the server is busy (the queue is full); retry shortly", "overloaded");
}

HttpError unknown_document(const std::string& id) {
  return HttpError(404, "not_found_error", "no document '" + id + "' (POST /v1/documents stores one)");
}

HttpError stopping_error() { return HttpError(503, "server_unavailable", "the server is stopping", "stopping"); }

// What a client is told about a job's exception: Cancelled (client gone or
// stopping) and e2llm::Error (bad input: 400) become HttpError; an HttpError
// stays; anything else is passed on (500).
std::exception_ptr as_http_error(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const Cancelled&) {
    return std::make_exception_ptr(
        HttpError(503, "server_unavailable", "cancelled: the client went away or the server is stopping", "cancelled"));
  } catch (const HttpError&) {
    return std::current_exception();
  } catch (const Error& e) {
    return std::make_exception_ptr(HttpError(400, "invalid_request_error", e.what()));
  } catch (...) {
    return std::current_exception();
  }
}

nlohmann::json document_json(const DocumentInfo& info) {
  return {{"id", info.id},
          {"object", "document"},
          {"chunks", info.chunks},
          {"context_tokens", info.context_tokens},
          {"soft_tokens", info.soft_tokens},
          {"compression", info.soft_tokens ? static_cast<double>(info.context_tokens) / info.soft_tokens : 0.0},
          {"bytes", info.bytes},
          {"created", info.created},
          {"metadata", info.metadata}};
}

// Server-sent events from the compute thread to the HTTP thread that streams them.
struct EventChannel {
  std::mutex mutex;
  std::condition_variable ready;
  std::string pending;
  bool done = false;
  std::atomic<bool> cancelled{false};

  void push(const std::string& event, bool last = false) {
    std::lock_guard lock(mutex);
    pending += event;
    done = done || last;
    ready.notify_all();
  }
  // Waits up to `timeout` for events; returns them (maybe none) and whether
  // the stream is over.
  std::pair<std::string, bool> pop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex);
    ready.wait_for(lock, timeout, [&] { return done || !pending.empty(); });
    std::string out;
    out.swap(pending);
    return {out, done};
  }
};

}  // namespace

struct Server::State {
  State(std::function<std::unique_ptr<E2llmModel>()> load, ServerOptions opts)
      : options(std::move(opts)),
        load_model(std::move(load)),
        reads(static_cast<size_t>(options.read_cache_mb) << 20),
        compute(static_cast<size_t>(options.max_queue)) {}

  ServerOptions options;
  std::function<std::unique_ptr<E2llmModel>()> load_model;
  std::unique_ptr<E2llmModel> model;        // used on the compute thread only
  std::unique_ptr<DocumentStore> store;     // thread-safe
  std::unique_ptr<BatchGenerator> batch;    // the answers being decoded, compute thread only
  ReadCache reads;                          // compute thread only
  std::string fingerprint;
  std::atomic<bool> ready{false}, stopping{false}, listening{false}, listen_returned{false};
  std::string load_error;                   // set before stop() when loading failed
  httplib::Server http;
  serve::ComputeQueue compute;
  serve::ServerMetrics metrics;
  std::atomic<uint64_t> next_response{0};
  int port = -1;

  void load();
  void routes();
  void require_ready() const {
    if (!ready) throw HttpError(503, "server_unavailable", "the model is still loading; see GET /health", "loading");
  }
  serve::ResponseIds response_ids(const CompletionRequest& r) {
    const char* prefix = r.endpoint == serve::Endpoint::kChat ? "chatcmpl-" : "cmpl-";
    return {fmt::format("{}{:x}{:06x}", prefix, unix_now(), ++next_response), unix_now(), options.model_name};
  }
  // Compute thread: the pooled vectors of `text` (whose document_id is `id`),
  // from the store or encoded now (and stored).
  // `cancelled` is checked between encoder passes.
  StoredDocument document_for(const std::string& id, const std::string& text, const nlohmann::json& metadata,
                              bool* from_store, const std::function<bool()>& cancelled);
  // Compute thread: counts a use of each stored document in `ids` without
  // loading its vectors, in `result` and the metrics only when all are stored;
  // false when one is not (the store's use order may have counted those before it).
  bool use_stored(const std::vector<std::string>& ids, CompletionResult& result);
  // Compute thread: the pooled vectors of the request's documents and inline
  // context (encoded when new; its id is the last of `ids`), counted in
  // `result`; 404 for an unknown id.
  std::vector<torch::Tensor> load_documents(const CompletionRequest& r, const std::vector<std::string>& ids,
                                            CompletionResult& result, const std::function<bool()>& cancelled);
  // Compute thread: reads the documents (encoding the inline context when
  // new), checks the window, and adds the answer to the decoding batch;
  // `done` or `failed` is called when it ends (also from later steps).
  // Errors before it joins the batch are thrown.
  void start_completion(const CompletionRequest& r, std::function<void(const std::string&)> on_text,
                        std::function<bool()> cancelled, std::function<void(CompletionResult)> done,
                        BatchGenerator::Failed failed);
  // One decode step of the batch; false when it is empty. The compute
  // thread runs it whenever no job waits.
  bool step_batch();
  // Queues `job` for the compute thread, counted in the metrics; 503 when the queue is full.
  void enqueue(std::function<void(bool run)> job);
  // Runs `work` on the compute thread and waits for its result; its errors
  // come back as HttpError (an e2llm::Error, bad input, as 400).
  template <typename T>
  T on_compute(std::function<T()> work);
  void handle_completion(const httplib::Request& req, httplib::Response& res, serve::Endpoint endpoint);
  void stream_completion(const CompletionRequest& r, httplib::Response& res, Clock::time_point start);
  void handle_document_upload(const httplib::Request& req, httplib::Response& res);
  void stop_http();
};

void Server::State::load() {
  try {
    model = load_model();
    fingerprint = model->fingerprint();
    store = std::make_unique<DocumentStore>(options.store_folder, options.store_max_mb << 20, fingerprint);
    batch = std::make_unique<BatchGenerator>(model->decoder(), model->decoder_tokenizer());
    ready = true;
    spdlog::info("serve: ready (model {}, fingerprint {})", options.model_name, fingerprint);
  } catch (const std::exception& e) {
    load_error = e.what();
    spdlog::error("serve: could not load the model: {}", load_error);
    stop_http();
  }
}

void Server::State::stop_http() {
  stopping = true;
  if (!listening || listen_returned) return;  // run() sees `stopping` and never listens, or is done
  // httplib's stop() only takes effect once it listens: wait for that (briefly).
  for (int i = 0; i < 300 && !http.is_running() && !listen_returned; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  http.stop();
}

StoredDocument Server::State::document_for(const std::string& id, const std::string& text,
                                           const nlohmann::json& metadata, bool* from_store,
                                           const std::function<bool()>& cancelled) {
  if (std::optional<StoredDocument> stored = store->get(id)) {
    ++metrics.store_hits;
    *from_store = true;
    return *stored;
  }
  ++metrics.store_misses;
  *from_store = false;
  ChunkedContext chunked = model->chunk_context(text);
  if (chunked.ids.empty()) throw HttpError(400, "invalid_request_error", "the text has no tokens to encode");
  const int64_t hits_before = model->pooled_cache_hits();
  StoredDocument doc;
  doc.pooled = model->pool_chunks(chunked, [&](size_t done, size_t total) {
    if (cancelled() || stopping) throw Cancelled{};  // a long document stops between passes
    spdlog::debug("serve: encoded {}/{} chunks", done, total);
  });
  if (model->pooled_cache_hits() == hits_before) metrics.encoder_chunks += chunked.ids.size();
  doc.info.id = id;
  doc.info.context_tokens = chunked.context_tokens;
  doc.info.created = unix_now();
  doc.info.metadata = metadata;
  doc.info = store->put(doc);
  return doc;
}

bool Server::State::use_stored(const std::vector<std::string>& ids, CompletionResult& result) {
  std::vector<DocumentInfo> infos;
  for (const std::string& id : ids) {
    std::optional<DocumentInfo> info = store->touch(id);
    if (!info) return false;
    infos.push_back(std::move(*info));
  }
  for (const DocumentInfo& info : infos) {
    ++metrics.store_hits;
    result.chunks_from_store += info.chunks;
  }
  return true;
}

std::vector<torch::Tensor> Server::State::load_documents(const CompletionRequest& r, const std::vector<std::string>& ids,
                                                         CompletionResult& result,
                                                         const std::function<bool()>& cancelled) {
  std::vector<torch::Tensor> pooled;
  for (const std::string& id : r.documents) {
    std::optional<StoredDocument> doc = store->get(id);
    if (!doc) throw unknown_document(id);
    ++metrics.store_hits;
    result.chunks_from_store += doc->info.chunks;
    pooled.push_back(doc->pooled);
  }
  if (r.context) {
    if (cancelled()) throw Cancelled{};
    bool from_store = false;
    StoredDocument doc = document_for(ids.back(), *r.context, nlohmann::json::object(), &from_store, cancelled);
    (from_store ? result.chunks_from_store : result.chunks_encoded) += doc.info.chunks;
    pooled.push_back(doc.pooled);
  }
  return pooled;
}

void Server::State::start_completion(const CompletionRequest& r, std::function<void(const std::string&)> on_text,
                                     std::function<bool()> cancelled, std::function<void(CompletionResult)> done,
                                     BatchGenerator::Failed failed) {
  torch::InferenceMode inference;
  auto result = std::make_shared<CompletionResult>();
  const Clock::time_point start = Clock::now();
  // The same documents in the same order were read for an earlier question:
  // only this question is prefilled, and their vectors are not loaded.
  std::vector<std::string> ids = r.documents;
  if (r.context) ids.push_back(document_id(fingerprint, *r.context));
  const std::string read_key = fmt::format("{}", fmt::join(ids, " "));
  std::shared_ptr<const ReadDocument> read = reads.get(read_key);
  if (read && !use_stored(ids, *result)) read = nullptr;  // one was dropped from the store
  std::vector<torch::Tensor> pooled;
  if (read) {
    ++metrics.read_hits;
  } else {
    pooled = load_documents(r, ids, *result, cancelled);
  }
  result->documents = ids;
  result->encode_ms = ms_since(start);
  if (cancelled()) throw Cancelled{};
  const torch::Tensor soft = read ? read->soft : model->adapt(torch::cat(pooled));
  const std::vector<Segment> prompt = model->assemble(soft, r.prompt);
  // Like OpenAI: a prompt plus max_tokens past the decoder's window is
  // refused; without max_tokens the answer gets what the window leaves.
  int64_t prompt_positions = 0;
  for (const Segment& segment : prompt) prompt_positions += segment.size();
  const int64_t window = model->decoder().config().context_window();
  const int64_t max_tokens = r.max_tokens > 0 ? r.max_tokens
                                              : std::min(options.default_max_tokens, window - prompt_positions);
  if (max_tokens < 1 || prompt_positions + max_tokens > window)
    throw HttpError(400, "invalid_request_error",
                    fmt::format("the prompt takes {} decoder positions ({} soft tokens for {} chunks) and the answer "
                                "up to {} more, past the decoder's window of {}: ask about fewer or shorter "
                                "documents, or lower max_tokens",
                                prompt_positions, soft.size(0), result->chunks_from_store + result->chunks_encoded,
                                std::max<int64_t>(max_tokens, 1), window),
                    "context_length_exceeded");
  const auto read_start = Clock::now();
  if (!read) {
    read = std::make_shared<const ReadDocument>(model->read(soft));
    reads.put(read_key, read);
  }
  const double read_ms = ms_since(read_start);
  GenerateOptions generation;
  generation.stop.max_new_tokens = max_tokens;
  generation.stop.stop_strings = r.stop;
  generation.stop.ignore_eos = r.ignore_eos;
  generation.sampling.greedy = r.greedy;
  generation.sampling.temperature = r.temperature;
  generation.sampling.top_p = r.top_p;
  generation.sampling.seed = r.seed;
  generation.sampling.repetition_penalty = r.repetition_penalty.value_or(model->config().repetition_penalty);
  generation.sampling.no_repeat_ngram_size = r.no_repeat_ngram_size.value_or(model->config().no_repeat_ngram_size);
  generation.on_text = [cancelled, on_text, this](std::string_view text) {
    if (cancelled() || stopping) throw Cancelled{};
    if (on_text) on_text(std::string(text));
  };
  // Room in the batch: decode until a sequence leaves (--parallel).
  while (static_cast<int64_t>(batch->size()) >= options.parallel) step_batch();
  batch->add(
      prompt, std::move(generation),
      [this, result, done, read_ms](GenerateResult g) {
        result->text = g.text;
        const bool cut = g.stop_reason == StopReason::kMaxNewTokens || g.stop_reason == StopReason::kWindowFull;
        result->finish_reason = cut ? "length" : "stop";
        result->prompt_tokens = g.prompt_tokens;
        result->completion_tokens = g.generated_tokens();
        result->prefill_ms = read_ms + g.prefill_seconds * 1000;
        result->decode_ms = g.decode_seconds * 1000;
        metrics.prompt_tokens += static_cast<uint64_t>(result->prompt_tokens);
        metrics.generated_tokens += static_cast<uint64_t>(result->completion_tokens);
        done(*result);
      },
      std::move(failed), &read->state);
  metrics.decoding = static_cast<int64_t>(batch->size());
}

bool Server::State::step_batch() {
  if (!batch || batch->empty()) return false;
  batch->step();
  ++metrics.decode_steps;
  metrics.decoding = static_cast<int64_t>(batch->size());
  return true;
}

void Server::State::enqueue(std::function<void(bool run)> job) {
  ++metrics.requests_queued;
  const bool queued = compute.submit([this, job = std::move(job)](bool run) {
    --metrics.requests_queued;
    if (run) ++metrics.requests_running;
    job(run);  // catches its own errors
    if (run) --metrics.requests_running;
  });
  if (!queued) {
    --metrics.requests_queued;
    throw overloaded();
  }
}

template <typename T>
T Server::State::on_compute(std::function<T()> work) {
  auto promise = std::make_shared<std::promise<T>>();
  std::future<T> future = promise->get_future();
  enqueue([promise, work = std::move(work)](bool run) {
    if (!run) return promise->set_exception(std::make_exception_ptr(stopping_error()));
    try {
      promise->set_value(work());
    } catch (...) {
      promise->set_exception(as_http_error(std::current_exception()));
    }
  });
  return future.get();  // rethrows the job's error
}

void Server::State::handle_completion(const httplib::Request& req, httplib::Response& res,
                                      serve::Endpoint endpoint) {
  require_ready();
  const Clock::time_point start = Clock::now();
  CompletionRequest r = serve::parse_completion_request(req.body, endpoint);
  for (const std::string& id : r.documents) {
    if (!is_document_id(id)) throw HttpError(400, "invalid_request_error", "'" + id + "' is not a document id");
    if (!store->info(id)) throw unknown_document(id);
  }
  if (r.stream) return stream_completion(r, res, start);

  auto promise = std::make_shared<std::promise<CompletionResult>>();
  std::future<CompletionResult> future = promise->get_future();
  auto failed = [promise](std::exception_ptr e) { promise->set_exception(as_http_error(e)); };
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  enqueue([this, r, promise, failed, cancelled](bool run) {
    if (!run) return failed(std::make_exception_ptr(stopping_error()));
    try {
      start_completion(r, nullptr, [cancelled] { return cancelled->load(); },
                       [promise](CompletionResult result) { promise->set_value(std::move(result)); }, failed);
    } catch (...) {
      failed(std::current_exception());
    }
  });
  // Nothing is written until the answer is done, so the client's socket is
  // watched meanwhile: one that hangs up cancels the job.
  const serve::ClientConnection client(req.remote_addr, req.remote_port, req.local_port);
  while (future.wait_for(kClientCheckInterval) != std::future_status::ready)
    if (!*cancelled && client.gone()) *cancelled = true;
  CompletionResult result;
  try {
    result = future.get();  // rethrows the job's HttpError
  } catch (const HttpError& e) {
    if (e.code == "cancelled" && *cancelled) {
      ++metrics.requests_cancelled;
      spdlog::info("serve: a {} request cancelled (the client went away)", req.path);
    }
    throw;
  }
  metrics.request_seconds.observe(ms_since(start) / 1000);
  send_json(res, 200, serve::completion_response(r, response_ids(r), result));
}

void Server::State::stream_completion(const CompletionRequest& r, httplib::Response& res, Clock::time_point start) {
  auto channel = std::make_shared<EventChannel>();
  const serve::ResponseIds ids = response_ids(r);
  auto finish = [this, ids, channel](std::exception_ptr error) {
    try {
      std::rethrow_exception(as_http_error(error));
    } catch (const HttpError& e) {
      if (e.code == "cancelled") {
        ++metrics.requests_cancelled;
        spdlog::info("serve: {} cancelled (the client went away or the server is stopping)", ids.id);
        return channel->push("", true);
      }
      channel->push(serve::sse_event(serve::error_json(e.what(), e.type, e.code)) + "data: [DONE]\n\n", true);
    } catch (const std::exception& e) {
      channel->push(serve::sse_event(serve::error_json(e.what(), "server_error", "")) + "data: [DONE]\n\n", true);
    }
  };
  enqueue([this, r, ids, channel, start, finish](bool run) {
    if (!run) return finish(std::make_exception_ptr(stopping_error()));
    try {
      if (r.endpoint == serve::Endpoint::kChat) channel->push(serve::sse_event(serve::stream_role_chunk(ids)));
      auto first = std::make_shared<bool>(true);
      auto on_text = [this, r, ids, channel, start, first](const std::string& text) {
        if (*first) metrics.first_token_seconds.observe(ms_since(start) / 1000);
        *first = false;
        channel->push(serve::sse_event(serve::stream_text_chunk(r, ids, text)));
      };
      auto done = [this, r, ids, channel, start](CompletionResult result) {
        std::string tail = serve::sse_event(serve::stream_finish_chunk(r, ids, result.finish_reason));
        if (r.include_usage) tail += serve::sse_event(serve::stream_usage_chunk(r, ids, result));
        channel->push(tail + "data: [DONE]\n\n", true);
        metrics.request_seconds.observe(ms_since(start) / 1000);
      };
      start_completion(r, on_text, [channel] { return channel->cancelled.load(); }, done, finish);
    } catch (...) {
      finish(std::current_exception());
    }
  });
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [channel](size_t, httplib::DataSink& sink) {
        auto [events, done] = channel->pop(kClientCheckInterval);
        // A failed write, or nothing to write (a long encode or prefill) and
        // a client that hung up (is_writable() peeks at the socket).
        if (events.empty() ? !done && !sink.is_writable() : !sink.write(events.data(), events.size())) {
          channel->cancelled = true;
          return false;
        }
        if (done) sink.done();
        return true;
      },
      [channel](bool success) {
        if (!success) channel->cancelled = true;
      });
}

void Server::State::handle_document_upload(const httplib::Request& req, httplib::Response& res) {
  require_ready();
  const serve::DocumentRequest d = serve::parse_document_request(req.body);
  const DocumentInfo info = on_compute<DocumentInfo>([this, d] {
    torch::InferenceMode inference;
    bool from_store = false;
    return document_for(document_id(fingerprint, d.text), d.text, d.metadata, &from_store, [] { return false; }).info;
  });
  send_json(res, 200, document_json(info));
}

void Server::State::routes() {
  http.set_payload_max_length(static_cast<size_t>(options.max_body_mb) << 20);
  const size_t threads = static_cast<size_t>(std::max<int64_t>(1, options.http_threads));
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };

  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (options.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    if (req.get_header_value("Authorization") == "Bearer " + options.api_key)
      return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, HttpError(401, "authentication_error",
                              req.has_header("Authorization") ? "the API key is not valid"
                                                              : "an API key is needed: Authorization: Bearer KEY",
                              "invalid_api_key"));
    return httplib::Server::HandlerResponse::Handled;
  });
  // Every handler's errors become OpenAI error bodies; the library's own
  // (404 no route, 413 body too large) too.
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const HttpError& e) {
      send_error(res, e);
    } catch (const std::exception& e) {
      spdlog::error("serve: {}", e.what());
      send_error(res, HttpError(500, "server_error", e.what()));
    } catch (...) {
      send_error(res, HttpError(500, "server_error", "unknown error"));
    }
  });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404)
      send_error(res, HttpError(404, "not_found_error", "no route " + req.method + " " + req.path));
    else if (res.status == 413)
      send_error(res, HttpError(413, "invalid_request_error", "the request body is larger than the server accepts (--max-body-mb)"));
    else
      send_error(res, HttpError(res.status, "invalid_request_error", "HTTP " + std::to_string(res.status)));
  });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics.count_status(res.status);
    spdlog::debug("serve: {} {} -> {}", req.method, req.path, res.status);
  });

  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (ready) return send_json(res, 200, {{"status", "ok"}});
    send_json(res, 503, {{"status", load_error.empty() ? "loading" : "error"}});
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.prometheus(store ? store->bytes() : 0, store ? static_cast<int64_t>(store->size()) : 0,
                                       store ? store->evictions() : 0),
                    "text/plain; version=0.0.4");
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200,
              {{"object", "list"},
               {"data", nlohmann::json::array({{{"id", options.model_name},
                                                {"object", "model"},
                                                {"created", unix_now()},
                                                {"owned_by", "e2llm"}}})}});
  });
  http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_completion(req, res, serve::Endpoint::kChat);
  });
  http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_completion(req, res, serve::Endpoint::kCompletion);
  });
  http.Post("/v1/documents", [this](const httplib::Request& req, httplib::Response& res) {
    handle_document_upload(req, res);
  });
  http.Get("/v1/documents", [this](const httplib::Request&, httplib::Response& res) {
    require_ready();
    nlohmann::json data = nlohmann::json::array();
    for (const DocumentInfo& info : store->list()) data.push_back(document_json(info));
    send_json(res, 200, {{"object", "list"}, {"data", data}});
  });
  auto checked_id = [this](const httplib::Request& req) {
    require_ready();
    const std::string id = req.matches[1];
    if (!is_document_id(id)) throw HttpError(400, "invalid_request_error", "'" + id + "' is not a document id");
    return id;
  };
  http.Get(R"(/v1/documents/([^/]+))", [this, checked_id](const httplib::Request& req, httplib::Response& res) {
    const std::string id = checked_id(req);
    std::optional<DocumentInfo> info = store->info(id);
    if (!info) throw unknown_document(id);
    send_json(res, 200, document_json(*info));
  });
  http.Delete(R"(/v1/documents/([^/]+))", [this, checked_id](const httplib::Request& req, httplib::Response& res) {
    const std::string id = checked_id(req);
    if (!store->erase(id)) throw unknown_document(id);
    send_json(res, 200, {{"id", id}, {"object", "document.deleted"}, {"deleted", true}});
  });
}

Server::Server(std::function<std::unique_ptr<E2llmModel>()> load_model, ServerOptions options)
    : state_(std::make_unique<State>(std::move(load_model), std::move(options))) {
  E2LLM_CHECK(state_->options.max_queue >= 1, "serve: --max-queue must be at least 1");
  E2LLM_CHECK(state_->options.parallel >= 1, "serve: --parallel must be at least 1");
  E2LLM_CHECK(state_->options.max_body_mb >= 1, "serve: --max-body-mb must be at least 1");
  E2LLM_CHECK(state_->options.default_max_tokens >= 1, "serve: the default max_tokens must be at least 1");
  state_->routes();
}

Server::~Server() { stop(); }

int Server::bind() {
  State& s = *state_;
  if (s.port >= 0) return s.port;
  if (s.options.port == 0) {
    s.port = s.http.bind_to_any_port(s.options.host);
  } else if (s.http.bind_to_port(s.options.host, s.options.port)) {
    s.port = s.options.port;
  }
  E2LLM_CHECK(s.port > 0, "serve: cannot listen on {}:{} (in use, or not an address of this machine)", s.options.host,
              s.options.port);
  return s.port;
}

void Server::run() {
  State& s = *state_;
  bind();
  spdlog::info("serve: listening on http://{}:{} (loading the model)", s.options.host, s.port);
  s.compute.start([&s] { s.load(); }, [&s] { return s.step_batch(); });
  s.listening = true;
  if (!s.stopping) s.http.listen_after_bind();
  s.listen_returned = true;
  s.compute.stop();
  E2LLM_CHECK(s.load_error.empty(), "serve: {}", s.load_error);
}

int Server::port() const { return state_->port; }
bool Server::ready() const { return state_->ready; }

void Server::stop() {
  state_->stop_http();
  state_->compute.stop();  // drops the queued jobs, joins the compute thread
  // The compute thread is gone: the answers still in the batch end here.
  if (state_->batch) state_->batch->abandon(std::make_exception_ptr(Cancelled{}));
}

}  // namespace e2llm
