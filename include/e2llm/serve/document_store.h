// The store of `e2llm serve`: documents encoded once (their pooled chunk
// vectors, E2llmModel::pool_chunks) and kept, in a folder that survives
// restarts, so that later questions about them encode nothing.
//
// One file per document, <folder>/<id>.e2doc:
//   "E2LLMDOC"                 8 bytes, magic
//   format version             uint32 little-endian (kDocumentFormatVersion)
//   header length N            uint32 little-endian
//   header                     N bytes of JSON: id, model fingerprint, shape
//                              [chunks, k, hidden], chunks, context_tokens,
//                              created (Unix seconds), metadata
//   vectors                    chunks * k * hidden float32, little-endian
//   checksum                   16 hex digits, FNV-1a over everything before it
// written to a temporary file and renamed, so a crash leaves the old file or
// the new one, never half of one. At start-up the index is rebuilt from the
// files; a truncated, corrupt, other-version or other-model file is skipped
// with a logged reason (and left alone). The least recently used documents
// are dropped when the store grows past its byte limit; a file's mtime is its
// last use, so the order survives restarts. Thread-safe.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace e2llm {

inline constexpr uint32_t kDocumentFormatVersion = 1;

struct DocumentInfo {
  std::string id;
  int64_t chunks = 0;
  int64_t context_tokens = 0;  // encoder tokens of the text
  int64_t soft_tokens = 0;     // chunks * k
  int64_t bytes = 0;           // the stored file (or the vectors, in memory)
  int64_t created = 0;         // Unix seconds
  nlohmann::json metadata = nlohmann::json::object();
};

struct StoredDocument {
  DocumentInfo info;
  torch::Tensor pooled;  // [chunks, k, hidden] float32
};

// "doc-" and 32 lowercase hex digits: the first 128 bits of SHA-256 over the
// model fingerprint and the text. The same text under the same model has the
// same id, so uploading it again encodes nothing.
std::string document_id(std::string_view model_fingerprint, std::string_view text);
// Whether `id` has that form; checked before an id reaches a file name.
bool is_document_id(std::string_view id);

class DocumentStore {
 public:
  // folder "" keeps documents in memory only (gone at exit). max_bytes <= 0:
  // no limit. Documents of another model fingerprint in the folder are skipped.
  DocumentStore(std::string folder, int64_t max_bytes, std::string model_fingerprint);

  std::optional<StoredDocument> get(const std::string& id);  // counts as a use
  // A use without reading the vectors (a question whose documents the server
  // has already read): the info, or nullopt when the id is not stored.
  std::optional<DocumentInfo> touch(const std::string& id);
  std::optional<DocumentInfo> info(const std::string& id) const;
  std::vector<DocumentInfo> list() const;  // newest first
  // Stores (replacing a document with the same id), then evicts the least
  // recently used others while over the limit. Returns the stored info (bytes filled in).
  DocumentInfo put(StoredDocument document);
  bool erase(const std::string& id);

  int64_t bytes() const;
  size_t size() const;
  int64_t evictions() const;
  // Files skipped at start-up, with the reason ("x.e2doc: truncated header").
  const std::vector<std::string>& skipped() const { return skipped_; }

 private:
  struct Entry {
    DocumentInfo info;
    int64_t last_use = 0;   // a counter: larger is more recent
    torch::Tensor pooled;   // in-memory stores only
  };
  std::string path_of(const std::string& id) const;
  // The entry of `id` with its use counted (and its file's mtime set), or
  // nullptr when not stored; the caller holds mutex_.
  Entry* use(const std::string& id);
  void load_index();
  void evict_over_limit(const std::string& keep);

  std::string folder_;
  int64_t max_bytes_;
  std::string fingerprint_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
  int64_t total_bytes_ = 0;
  int64_t clock_ = 0;
  int64_t evictions_ = 0;
  std::vector<std::string> skipped_;
};

// The file format on its own (for tests and fuzzing): the bytes of a document
// file, and the document read back from them; a refusal is an e2llm::Error
// naming `origin` and what is wrong.
std::string encode_document_file(const StoredDocument& document, const std::string& model_fingerprint);
StoredDocument decode_document_file(std::string_view bytes, const std::string& model_fingerprint,
                                    const std::string& origin);

}  // namespace e2llm
