// BM25 retrieval over a context's chunks with SQLite FTS5.
#include "e2llm/eval/retrieval.h"

#include <sqlite3.h>

#include <algorithm>

#include "e2llm/core/error.h"
#include "eval/unicode_text.h"

namespace e2llm {
namespace {

struct Statement {
  sqlite3_stmt* stmt = nullptr;
  Statement(sqlite3* db, const char* sql) {
    E2LLM_CHECK(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK, "sqlite: {}", sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(stmt); }
};

void exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string what = message ? message : "unknown error";
    sqlite3_free(message);
    fail("sqlite: {} (is FTS5 compiled in?)", what);
  }
}

// Query words as FTS5 string literals joined by OR: letters and digits only,
// so no FTS5 operator or column filter can be smuggled in.
std::string fts_or_query(std::string_view query) {
  std::string out, word;
  auto flush = [&] {
    if (word.empty()) return;
    out += fmt::format("{}\"{}\"", out.empty() ? "" : " OR ", word);
    word.clear();
  };
  for (char32_t c : decode_utf8(query)) {
    if (unicode::is_python_word(c) && c != U'_') {
      append_utf8(word, c);
    } else {
      flush();
    }
  }
  flush();
  return out;
}

}  // namespace

struct Bm25Index::Db {
  sqlite3* handle = nullptr;
  ~Db() { sqlite3_close(handle); }
};

Bm25Index::Bm25Index(const std::vector<std::string>& chunks) : db_(std::make_unique<Db>()), size_(chunks.size()) {
  E2LLM_CHECK(sqlite3_open(":memory:", &db_->handle) == SQLITE_OK, "sqlite: cannot open an in-memory database");
  exec(db_->handle, "CREATE VIRTUAL TABLE chunks USING fts5(body, tokenize = 'unicode61 remove_diacritics 2')");
  exec(db_->handle, "BEGIN");
  Statement insert(db_->handle, "INSERT INTO chunks(rowid, body) VALUES (?, ?)");
  for (size_t i = 0; i < chunks.size(); ++i) {
    sqlite3_bind_int64(insert.stmt, 1, static_cast<sqlite3_int64>(i));
    sqlite3_bind_text(insert.stmt, 2, chunks[i].data(), static_cast<int>(chunks[i].size()), SQLITE_STATIC);
    E2LLM_CHECK(sqlite3_step(insert.stmt) == SQLITE_DONE, "sqlite: {}", sqlite3_errmsg(db_->handle));
    sqlite3_reset(insert.stmt);
  }
  exec(db_->handle, "COMMIT");
}

Bm25Index::~Bm25Index() = default;

std::vector<RankedChunk> Bm25Index::search(std::string_view query, size_t k) const {
  std::string match = fts_or_query(query);
  std::vector<RankedChunk> out;
  if (match.empty() || k == 0) return out;
  Statement select(db_->handle,
                   "SELECT rowid, bm25(chunks) AS score FROM chunks WHERE chunks MATCH ? "
                   "ORDER BY score, rowid LIMIT ?");
  sqlite3_bind_text(select.stmt, 1, match.data(), static_cast<int>(match.size()), SQLITE_STATIC);
  sqlite3_bind_int64(select.stmt, 2, static_cast<sqlite3_int64>(k));
  int rc;
  while ((rc = sqlite3_step(select.stmt)) == SQLITE_ROW)
    out.push_back({static_cast<size_t>(sqlite3_column_int64(select.stmt, 0)), sqlite3_column_double(select.stmt, 1)});
  E2LLM_CHECK(rc == SQLITE_DONE, "sqlite: {}", sqlite3_errmsg(db_->handle));
  return out;
}

std::vector<size_t> select_within_budget(const std::vector<RankedChunk>& ranked, size_t budget,
                                         const std::function<size_t(size_t index)>& cost_of) {
  std::vector<size_t> chosen;
  size_t used = 0;
  for (const auto& r : ranked) {
    size_t cost = cost_of(r.index);
    if (used + cost > budget) continue;
    used += cost;
    chosen.push_back(r.index);
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

}  // namespace e2llm
