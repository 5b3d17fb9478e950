// e2llm serve over HTTP on loopback, with a tiny random E2LLM model: the
// OpenAI routes, streaming equal to not streaming, the document store across
// restarts, API keys, and a table of bad requests that each get their 4xx
// while the server keeps serving, and clients that hang up. (The official
// Python client is exercised by test_serve_cli.cpp.) Built twice: into
// e2llm_tests, and under AddressSanitizer and UBSan (ServerUnderSanitizers).
#include <arpa/inet.h>
#include <httplib.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <latch>
#include <thread>

#include "e2llm/e2llm/e2llm_model.h"
#include "e2llm/serve/server.h"
#include "test_e2llm_models.h"
#include "test_util.h"

namespace e2llm {
namespace {

#ifdef __SANITIZE_ADDRESS__
constexpr bool kAddressSanitizer = true;  // its quarantine holds freed memory back: RSS growth says nothing
#else
constexpr bool kAddressSanitizer = false;
#endif

const std::vector<std::string> kWords = {"the",    "meeting", "budget", "was",  "approved", "by",    "board",
                                         "what",   "who",     "did",    "team", "decide",   "about", "new",
                                         "design", "remote",  "control", "price", "is",     "twelve", "euros"};

std::string document_text(int repeats) {
  std::string text;
  for (int i = 0; i < repeats; ++i)
    text += "the team did decide about the new remote control design the price is twelve euros the budget was "
            "approved by the board ";
  return text;
}

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    models_ = new test::TinyModels(test::write_tiny_models(dir_->path() + "/models", kWords, 256));
  }
  static void TearDownTestSuite() {
    delete models_;
    delete dir_;
  }
  // The same random weights every time, so a restarted server has the same fingerprint.
  static std::function<std::unique_ptr<E2llmModel>()> loader() {
    return [] {
      torch::manual_seed(0);
      return std::make_unique<E2llmModel>(test::tiny_e2llm_config(*models_));
    };
  }
  static test::TempDir* dir_;
  static test::TinyModels* models_;
};
test::TempDir* ServerTest::dir_ = nullptr;
test::TinyModels* ServerTest::models_ = nullptr;

// A server on a free loopback port, serving from a thread until destroyed.
class RunningServer {
 public:
  RunningServer(std::function<std::unique_ptr<E2llmModel>()> load, ServerOptions options, bool wait_ready = true)
      : server_(std::move(load), [&] {
          options.port = 0;
          return options;
        }()) {
    port_ = server_.bind();
    thread_ = std::thread([this] {
      try {
        server_.run();
      } catch (const std::exception& e) {
        ADD_FAILURE() << "server stopped: " << e.what();
      }
    });
    for (int i = 0; wait_ready && i < 1200 && !server_.ready(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ~RunningServer() {
    server_.stop();
    thread_.join();
  }
  httplib::Client client(const std::string& key = "") const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120);
    if (!key.empty()) c.set_bearer_token_auth(key.c_str());
    return c;
  }
  bool ready() const { return server_.ready(); }
  int port() const { return port_; }

 private:
  Server server_;
  int port_ = 0;
  std::thread thread_;
};

nlohmann::json post_json(httplib::Client& c, const std::string& path, const nlohmann::json& body, int expect = 200) {
  auto r = c.Post(path.c_str(), body.dump(), "application/json");
  EXPECT_TRUE(r) << path;
  if (!r) return {};
  EXPECT_EQ(r->status, expect) << path << ": " << r->body;
  return nlohmann::json::parse(r->body);
}

double metric(httplib::Client& c, const std::string& name) {
  auto r = c.Get("/metrics");
  EXPECT_TRUE(r && r->status == 200);
  const std::string& text = r->body;
  const std::string key = "\n" + name + " ";
  const size_t at = text.find(key);
  EXPECT_NE(at, std::string::npos) << name;
  return at == std::string::npos ? -1 : std::stod(text.substr(at + key.size()));
}

// The "data: " events of an SSE body, the JSON ones parsed; the last must be [DONE].
std::vector<nlohmann::json> sse_events(const std::string& body) {
  std::vector<nlohmann::json> out;
  size_t at = 0;
  bool done = false;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    const size_t end = body.find("\n\n", at);
    const std::string data = body.substr(at + 6, end - at - 6);
    at = end;
    EXPECT_FALSE(done) << "an event after [DONE]";
    if (data == "[DONE]") done = true;
    else out.push_back(nlohmann::json::parse(data));
  }
  EXPECT_TRUE(done) << body;
  return out;
}

// The text of a chat stream: its deltas' content, joined.
std::string joined_content(const std::vector<nlohmann::json>& events) {
  std::string text;
  for (const auto& e : events)
    if (!e["choices"].empty() && e["choices"][0]["delta"].contains("content"))
      text += e["choices"][0]["delta"]["content"].get<std::string>();
  return text;
}

nlohmann::json chat_body(const std::string& doc, const std::string& question, bool stream = false) {
  return {{"model", "anything"},
          {"messages", {{{"role", "user"}, {"content", question}}}},
          {"documents", {doc}},
          {"max_tokens", 12},
          {"temperature", 0},
          {"stream", stream},
          {"stream_options", {{"include_usage", true}}}};
}

TEST_F(ServerTest, HealthModelsAndUnknownRoutes) {
  RunningServer s(loader(), {});
  ASSERT_TRUE(s.ready());
  auto c = s.client();
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(nlohmann::json::parse(health->body)["status"], "ok");
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  nlohmann::json m = nlohmann::json::parse(models->body);
  EXPECT_EQ(m["object"], "list");
  EXPECT_EQ(m["data"][0]["id"], "e2llm");
  auto missing = c.Get("/v1/nothing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(nlohmann::json::parse(missing->body)["error"]["type"], "not_found_error");
}

TEST_F(ServerTest, HealthSays503WhileTheModelLoads) {
  std::atomic<bool> release{false};
  RunningServer s(
      [&release] {
        while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return loader()();
      },
      {}, /*wait_ready=*/false);
  auto c = s.client();
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  auto chat = c.Post("/v1/chat/completions", chat_body("doc-0123456789abcdef0123456789abcdef", "who").dump(),
                     "application/json");
  ASSERT_TRUE(chat);
  EXPECT_EQ(chat->status, 503);
  release = true;
  for (int i = 0; i < 600 && !s.ready(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(c.Get("/health")->status, 200);
}

TEST_F(ServerTest, DocumentsAreEncodedOnceAndListed) {
  RunningServer s(loader(), {});
  auto c = s.client();
  const nlohmann::json first =
      post_json(c, "/v1/documents", {{"text", document_text(8)}, {"metadata", {{"title", "meeting"}}}});
  const std::string id = first["id"];
  EXPECT_EQ(id.rfind("doc-", 0), 0u);
  EXPECT_GT(first["chunks"].get<int64_t>(), 1);
  EXPECT_EQ(first["soft_tokens"].get<int64_t>(), first["chunks"].get<int64_t>() * 2);  // k = 2
  EXPECT_GT(first["compression"].get<double>(), 1.0);
  EXPECT_EQ(first["metadata"]["title"], "meeting");
  const double encoded = metric(c, "e2llm_encoder_chunks_total");
  EXPECT_EQ(encoded, first["chunks"].get<double>());

  const nlohmann::json again = post_json(c, "/v1/documents", {{"text", document_text(8)}});
  EXPECT_EQ(again["id"], id);
  EXPECT_EQ(metric(c, "e2llm_encoder_chunks_total"), encoded) << "the same text was encoded twice";
  EXPECT_EQ(metric(c, "e2llm_store_hits_total"), 1);

  auto list = c.Get("/v1/documents");
  ASSERT_TRUE(list);
  EXPECT_EQ(nlohmann::json::parse(list->body)["data"].size(), 1u);
  auto one = c.Get(("/v1/documents/" + id).c_str());
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  EXPECT_EQ(nlohmann::json::parse(one->body)["chunks"], first["chunks"]);
  auto gone = c.Delete(("/v1/documents/" + id).c_str());
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 200);
  EXPECT_EQ(c.Get(("/v1/documents/" + id).c_str())->status, 404);
  EXPECT_EQ(c.Delete(("/v1/documents/" + id).c_str())->status, 404);
}

TEST_F(ServerTest, ChatStreamedEqualsNotStreamedAndUsageAddsUp) {
  RunningServer s(loader(), {});
  auto c = s.client();
  const std::string id = post_json(c, "/v1/documents", {{"text", document_text(6)}})["id"];
  const nlohmann::json whole = post_json(c, "/v1/chat/completions", chat_body(id, "what did the team decide"));
  EXPECT_EQ(whole["object"], "chat.completion");
  EXPECT_EQ(whole["choices"][0]["message"]["role"], "assistant");
  const std::string answer = whole["choices"][0]["message"]["content"];
  const nlohmann::json& usage = whole["usage"];
  EXPECT_GT(usage["prompt_tokens"].get<int64_t>(), 6);  // soft tokens, markers and the question
  EXPECT_GE(usage["completion_tokens"].get<int64_t>(), 1);
  EXPECT_LE(usage["completion_tokens"].get<int64_t>(), 12);
  EXPECT_EQ(usage["total_tokens"], usage["prompt_tokens"].get<int64_t>() + usage["completion_tokens"].get<int64_t>());
  EXPECT_GT(whole["timings"]["chunks_from_store"].get<int64_t>(), 0);
  EXPECT_EQ(whole["timings"]["chunks_encoded"], 0);
  const std::string finish = whole["choices"][0]["finish_reason"];
  EXPECT_TRUE(finish == "stop" || finish == "length") << finish;

  auto streamed = c.Post("/v1/chat/completions", chat_body(id, "what did the team decide", true).dump(),
                         "application/json");
  ASSERT_TRUE(streamed);
  EXPECT_EQ(streamed->status, 200);
  EXPECT_NE(streamed->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  std::vector<nlohmann::json> events = sse_events(streamed->body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[0]["choices"][0]["delta"]["role"], "assistant");
  for (const auto& e : events) {
    EXPECT_EQ(e["id"], events[0]["id"]);
    EXPECT_EQ(e["object"], "chat.completion.chunk");
  }
  EXPECT_EQ(joined_content(events), answer);
  const nlohmann::json& finish_chunk = events[events.size() - 2];
  EXPECT_EQ(finish_chunk["choices"][0]["finish_reason"], finish);
  const nlohmann::json& usage_chunk = events.back();
  EXPECT_TRUE(usage_chunk["choices"].empty());
  EXPECT_EQ(usage_chunk["usage"], usage);
  EXPECT_EQ(metric(c, "e2llm_read_hits_total"), 1) << "the second question read the document again";

  // "ignore_eos" (as vLLM and llama-server take it): exactly max_tokens tokens.
  nlohmann::json exact = chat_body(id, "what did the team decide");
  exact["ignore_eos"] = true;
  const nlohmann::json forced = post_json(c, "/v1/chat/completions", exact);
  EXPECT_EQ(forced["usage"]["completion_tokens"], 12);
  EXPECT_EQ(forced["choices"][0]["finish_reason"], "length");
}

// Without the read cache every question prefills its documents again, and
// gets the same answer.
TEST_F(ServerTest, WithoutTheReadCacheAnswersAreTheSame) {
  std::string remembered;
  for (int64_t mb : {512, 0}) {
    ServerOptions options;
    options.read_cache_mb = mb;
    RunningServer s(loader(), options);
    auto c = s.client();
    const std::string id = post_json(c, "/v1/documents", {{"text", document_text(6)}})["id"];
    post_json(c, "/v1/chat/completions", chat_body(id, "what was decided about the budget"));
    const nlohmann::json again = post_json(c, "/v1/chat/completions", chat_body(id, "what did the team decide"));
    const std::string answer = again["choices"][0]["message"]["content"];
    EXPECT_EQ(metric(c, "e2llm_read_hits_total"), mb > 0 ? 1 : 0);
    if (mb > 0) remembered = answer;
    else EXPECT_EQ(answer, remembered);
  }
}

TEST_F(ServerTest, CompletionsAndInlineContextAndStop) {
  RunningServer s(loader(), {});
  auto c = s.client();
  const nlohmann::json r = post_json(c, "/v1/completions",
                                     {{"prompt", "who approved the budget"},
                                      {"context", document_text(3)},
                                      {"max_tokens", 6},
                                      {"temperature", 0}});
  EXPECT_EQ(r["object"], "text_completion");
  EXPECT_TRUE(r["choices"][0]["text"].is_string());
  EXPECT_GT(r["timings"]["chunks_encoded"].get<int64_t>(), 0);
  ASSERT_EQ(r["documents"].size(), 1u);
  // The inline context is now a stored document: the same request encodes nothing.
  const nlohmann::json again = post_json(c, "/v1/completions",
                                         {{"prompt", "who approved the budget"},
                                          {"context", document_text(3)},
                                          {"max_tokens", 6},
                                          {"temperature", 0}});
  EXPECT_EQ(again["timings"]["chunks_encoded"], 0);
  EXPECT_EQ(again["choices"][0]["text"], r["choices"][0]["text"]);
  EXPECT_EQ(c.Get(("/v1/documents/" + r["documents"][0].get<std::string>()).c_str())->status, 200);
  // Sampling with a seed is repeatable.
  nlohmann::json sampled_body = {{"prompt", "who"}, {"documents", r["documents"]}, {"max_tokens", 8},
                                 {"temperature", 1.0}, {"top_p", 0.9}, {"seed", 5}};
  EXPECT_EQ(post_json(c, "/v1/completions", sampled_body)["choices"][0]["text"],
            post_json(c, "/v1/completions", sampled_body)["choices"][0]["text"]);
}

// A request that names no repetition setting gets the model's own (E2llmConfig);
// one that does, its own. Eight forced tokens of the random model repeat some
// token, which no-repeat n-gram size 1 forbids.
TEST_F(ServerTest, RequestsWithoutRepetitionSettingsGetTheModelsAnswerDefaults) {
  RunningServer s([] {
    torch::manual_seed(0);
    E2llmConfig config = test::tiny_e2llm_config(*models_);
    config.no_repeat_ngram_size = 1;
    return std::make_unique<E2llmModel>(config);
  }, {});
  auto c = s.client();
  const nlohmann::json body = {
      {"prompt", "who approved the budget"}, {"context", document_text(2)}, {"max_tokens", 8}, {"ignore_eos", true}};
  auto text_with = [&](const nlohmann::json& extra) {
    nlohmann::json b = body;
    b.update(extra);
    return post_json(c, "/v1/completions", b)["choices"][0]["text"].get<std::string>();
  };
  const std::string by_default = text_with(nlohmann::json::object());
  EXPECT_EQ(by_default, text_with({{"no_repeat_ngram_size", 1}}));
  EXPECT_NE(by_default, text_with({{"no_repeat_ngram_size", 0}})) << "the model's default was not applied";
}

TEST_F(ServerTest, BadRequestsGetTheir4xxAndTheServerKeepsServing) {
  ServerOptions options;
  options.max_body_mb = 1;
  RunningServer s(loader(), options);
  auto c = s.client();
  const std::string id = post_json(c, "/v1/documents", {{"text", document_text(2)}})["id"];
  const nlohmann::json docs = {id};
  struct Case {
    std::string path, body;
    int status;
    std::string needle;  // in the error message
  };
  const std::string huge(1536 * 1024, 'a');
  const std::vector<Case> cases = {
      {"/v1/chat/completions", "not json", 400, "not valid JSON"},
      {"/v1/chat/completions", "[1, 2]", 400, "JSON object"},
      {"/v1/chat/completions", nlohmann::json{{"documents", docs}}.dump(), 400, "messages"},
      {"/v1/chat/completions", nlohmann::json{{"documents", docs}, {"messages", "hi"}}.dump(), 400, "messages"},
      {"/v1/chat/completions", nlohmann::json{{"documents", docs}, {"messages", {123}}}.dump(), 400, "messages[0]"},
      {"/v1/chat/completions", nlohmann::json{{"documents", docs}, {"messages", {nlohmann::json::object()}}}.dump(),
       400, "role"},
      {"/v1/chat/completions", nlohmann::json{{"documents", docs}, {"messages", {{{"role", 7}, {"content", "x"}}}}}.dump(),
       400, "role"},
      {"/v1/chat/completions",
       nlohmann::json{{"documents", docs}, {"messages", {{{"role", "wizard"}, {"content", "x"}}}}}.dump(), 400,
       "wizard"},
      {"/v1/chat/completions", "{\"documents\": [\"" + id + "\"], \"messages\": [{\"role\": \"user\", \"content\": \"\xff\xfe\"}]}",
       400, "not valid JSON"},
      {"/v1/completions", nlohmann::json{{"documents", docs}, {"prompt", "x"}, {"max_tokens", -1}}.dump(), 400,
       "max_tokens"},
      {"/v1/completions", nlohmann::json{{"documents", docs}, {"prompt", "x"}, {"max_tokens", 2.5}}.dump(), 400,
       "max_tokens"},
      {"/v1/completions", nlohmann::json{{"documents", docs}, {"prompt", "x"}, {"temperature", -1}}.dump(), 400,
       "temperature"},
      {"/v1/completions", nlohmann::json{{"documents", docs}, {"prompt", "x"}, {"top_p", 0}}.dump(), 400, "top_p"},
      {"/v1/completions", nlohmann::json{{"documents", docs}, {"prompt", "x"}, {"repetition_penalty", 0}}.dump(), 400,
       "repetition_penalty"},
      {"/v1/completions", nlohmann::json{{"documents", docs}, {"prompt", "x"}, {"no_repeat_ngram_size", -1}}.dump(),
       400, "no_repeat_ngram_size"},
      {"/v1/completions", nlohmann::json{{"documents", docs}, {"prompt", "x"}, {"n", 2}}.dump(), 400, "'n'"},
      {"/v1/completions", nlohmann::json{{"documents", docs}, {"prompt", 5}}.dump(), 400, "prompt"},
      {"/v1/completions", nlohmann::json{{"prompt", "x"}}.dump(), 400, "nothing to read"},
      {"/v1/completions", nlohmann::json{{"documents", {"doc-ffffffffffffffffffffffffffffffff"}}, {"prompt", "x"}}.dump(),
       404, "no document"},
      {"/v1/completions", nlohmann::json{{"documents", {"../../etc/passwd"}}, {"prompt", "x"}}.dump(), 400,
       "not a document id"},
      {"/v1/completions", nlohmann::json{{"documents", {7}}, {"prompt", "x"}}.dump(), 400, "documents[0]"},
      {"/v1/completions", nlohmann::json{{"documents", docs}, {"prompt", "x"}, {"max_tokens", 100000}}.dump(), 400,
       "window"},
      {"/v1/documents", nlohmann::json{{"text", ""}}.dump(), 400, "empty"},
      {"/v1/documents", nlohmann::json{{"text", 12}}.dump(), 400, "text"},
      {"/v1/documents", nlohmann::json{{"text", "x"}, {"metadata", "m"}}.dump(), 400, "metadata"},
      {"/v1/documents", nlohmann::json{{"text", huge}}.dump(), 413, "larger"},
  };
  for (const Case& k : cases) {
    auto r = c.Post(k.path.c_str(), k.body, "application/json");
    ASSERT_TRUE(r) << k.body.substr(0, 200);
    EXPECT_EQ(r->status, k.status) << k.body.substr(0, 200) << " -> " << r->body;
    const nlohmann::json e = nlohmann::json::parse(r->body, nullptr, false);
    ASSERT_TRUE(e.is_object() && e.contains("error")) << r->body;
    EXPECT_NE(e["error"]["message"].get<std::string>().find(k.needle), std::string::npos)
        << k.body.substr(0, 200) << " -> " << r->body;
    EXPECT_TRUE(e["error"]["type"].is_string());
  }
  EXPECT_EQ(c.Get("/v1/documents/..%2F..%2Fetc%2Fpasswd")->status, 404);  // decoded, it matches no route
  EXPECT_EQ(c.Delete("/v1/documents/doc-zz")->status, 400);
  // Still serving, and a good request still works.
  EXPECT_EQ(c.Get("/health")->status, 200);
  post_json(c, "/v1/chat/completions", chat_body(id, "who"));
}

TEST_F(ServerTest, ApiKeyIsRequiredExceptForHealth) {
  ServerOptions options;
  options.api_key = "sekret";
  RunningServer s(loader(), options);
  auto anonymous = s.client();
  EXPECT_EQ(anonymous.Get("/health")->status, 200);
  auto no_key = anonymous.Get("/v1/models");
  EXPECT_EQ(no_key->status, 401);
  EXPECT_EQ(nlohmann::json::parse(no_key->body)["error"]["type"], "authentication_error");
  auto wrong = s.client("guess");
  EXPECT_EQ(wrong.Get("/v1/models")->status, 401);
  EXPECT_EQ(wrong.Post("/v1/documents", "{\"text\": \"the\"}", "application/json")->status, 401);
  auto right = s.client("sekret");
  EXPECT_EQ(right.Get("/v1/models")->status, 200);
}

TEST_F(ServerTest, StoredDocumentsSurviveARestartAndAnswerTheSame) {
  test::TempDir store;
  ServerOptions options;
  options.store_folder = store.path();
  std::string id, answer;
  {
    RunningServer s(loader(), options);
    auto c = s.client();
    id = post_json(c, "/v1/documents", {{"text", document_text(5)}})["id"];
    answer = post_json(c, "/v1/chat/completions", chat_body(id, "what is the price"))["choices"][0]["message"]["content"];
  }
  RunningServer s(loader(), options);
  auto c = s.client();
  const nlohmann::json again = post_json(c, "/v1/chat/completions", chat_body(id, "what is the price"));
  EXPECT_EQ(again["choices"][0]["message"]["content"], answer);
  EXPECT_EQ(metric(c, "e2llm_encoder_chunks_total"), 0);
  EXPECT_EQ(metric(c, "e2llm_store_documents"), 1);
}

// A question about documents the server has already read (the read cache)
// loads none of their vectors: with the stored file gone behind the server's
// back, the second question is still answered from what was read.
TEST_F(ServerTest, AQuestionAboutDocumentsAlreadyReadLoadsNoVectors) {
  test::TempDir store;
  ServerOptions options;
  options.store_folder = store.path();
  RunningServer s(loader(), options);
  auto c = s.client();
  const std::string id = post_json(c, "/v1/documents", {{"text", document_text(5)}})["id"];
  post_json(c, "/v1/chat/completions", chat_body(id, "what is the price"));
  ASSERT_TRUE(std::filesystem::remove(std::filesystem::path(store.path()) / (id + ".e2doc")));
  const nlohmann::json again = post_json(c, "/v1/chat/completions", chat_body(id, "what was decided"));
  EXPECT_GT(again["timings"]["chunks_from_store"].get<int64_t>(), 0);
  EXPECT_EQ(metric(c, "e2llm_read_hits_total"), 1);
}

long resident_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// Bounded load on loopback: concurrent streaming clients all get complete
// answers, and a thousand bad requests neither stop the server nor grow it.
TEST_F(ServerTest, ConcurrentStreamsAndAThousandBadRequests) {
  ServerOptions options;
  options.max_queue = 64;
  RunningServer s(loader(), options);
  auto c = s.client();
  const std::string id = post_json(c, "/v1/documents", {{"text", document_text(4)}})["id"];
  const std::string expected = post_json(c, "/v1/chat/completions", chat_body(id, "who"))["choices"][0]["message"]["content"];
  std::atomic<int> good{0}, bad{0};
  std::vector<std::thread> clients;
  std::latch all_ready(8);
  const double steps_before = metric(c, "e2llm_decode_steps_total");
  const double tokens_before = metric(c, "e2llm_generated_tokens_total");
  for (int t = 0; t < 8; ++t)
    clients.emplace_back([&] {
      auto mine = s.client();
      all_ready.arrive_and_wait();  // all 8 ask at once
      for (int i = 0; i < 3; ++i) {
        auto r = mine.Post("/v1/chat/completions", chat_body(id, "who", true).dump(), "application/json");
        const bool ok = r && r->status == 200 && joined_content(sse_events(r->body)) == expected;
        (ok ? good : bad)++;
      }
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(good, 24);
  EXPECT_EQ(bad, 0);
  // Continuous batching: answers in flight together share decode steps.
  const double steps = metric(c, "e2llm_decode_steps_total") - steps_before;
  const double tokens = metric(c, "e2llm_generated_tokens_total") - tokens_before;
  EXPECT_LT(steps, tokens) << "no two answers were ever decoded in the same step";

  for (int i = 0; i < 100; ++i) c.Post("/v1/chat/completions", "{\"messages\": 1}", "application/json");
  const long before = resident_kib();
  for (int i = 0; i < 1000; ++i) {
    auto r = c.Post("/v1/chat/completions", i % 2 ? "not json" : "{\"messages\": [{}]}", "application/json");
    ASSERT_TRUE(r && r->status == 400) << i;
  }
  const long after = resident_kib();
  if (!kAddressSanitizer) {
    EXPECT_LT(after - before, 16 * 1024) << "resident memory grew from " << before << " to " << after << " KiB";
  }
  EXPECT_EQ(c.Get("/health")->status, 200);
}

// A client that posts `body` over a raw socket, reads whatever comes within
// `patience`, and hangs up. Returns the bytes it got.
std::string ask_and_hang_up(int port, const std::string& path, const std::string& body,
                            std::chrono::milliseconds patience) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  const std::string request = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  EXPECT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
  timeval timeout{0, 50'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string got;
  const auto until = std::chrono::steady_clock::now() + patience;
  char buffer[4096];
  while (std::chrono::steady_clock::now() < until) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) got.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return got;
}

// A client that hangs up cancels its request, streamed or not, even while its
// answer has 60000 tokens to go: the compute thread stops, the cancellation
// is counted, and the server serves on. (A non-streamed answer writes nothing
// until it is done, so the server has to watch the socket to notice.)
TEST(ServerCancel, AClientThatHangsUpCancelsItsRequest) {
  test::TempDir dir;
  const test::TinyModels models = test::write_tiny_models(dir.path() + "/models", kWords, 1 << 16);
  RunningServer s(
      [&models] {
        torch::manual_seed(0);
        return std::make_unique<E2llmModel>(test::tiny_e2llm_config(models));
      },
      {});
  ASSERT_TRUE(s.ready());
  auto c = s.client();
  const std::string id = post_json(c, "/v1/documents", {{"text", document_text(4)}})["id"];
  const std::string cancelled = "e2llm_requests_total{outcome=\"cancelled\"}";
  int hung_up = 0;
  for (bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "streamed" : "not streamed");
    nlohmann::json body = chat_body(id, "what did the team decide", stream);
    body["max_tokens"] = 60000;
    body["ignore_eos"] = true;
    const std::string got = ask_and_hang_up(s.port(), "/v1/chat/completions", body.dump(), std::chrono::milliseconds(300));
    if (stream) {
      EXPECT_NE(got.find("chat.completion.chunk"), std::string::npos) << "the stream had not started: " << got;
    } else {
      EXPECT_TRUE(got.empty()) << "a 60000-token answer within 0.3 s? " << got.substr(0, 200);
    }
    ++hung_up;
    for (int i = 0; i < 100 && metric(c, cancelled) < hung_up; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(metric(c, cancelled), hung_up);
  }
  EXPECT_LT(metric(c, "e2llm_decode_steps_total"), 60000) << "an answer ran to its end";
  const nlohmann::json after = post_json(c, "/v1/chat/completions", chat_body(id, "who"));
  EXPECT_GE(after["usage"]["completion_tokens"].get<int64_t>(), 1);
}

}  // namespace
}  // namespace e2llm
