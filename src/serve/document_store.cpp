#include "e2llm/serve/document_store.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "e2llm/core/error.h"
#include "e2llm/io/base_model.h"
#include "e2llm/io/fs.h"
#include "io/json_fields.h"

namespace e2llm {
namespace {

constexpr std::string_view kMagic = "E2LLMDOC";
constexpr std::string_view kExtension = ".e2doc";
constexpr size_t kChecksumBytes = 16;  // hex digits of a 64-bit FNV-1a
constexpr size_t kMaxHeaderBytes = 16u << 20;

std::string hex(const unsigned char* bytes, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(digits[bytes[i] >> 4]);
    out.push_back(digits[bytes[i] & 15]);
  }
  return out;
}

void append_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t read_u32(std::string_view bytes, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  return v;
}

nlohmann::json header_json(const DocumentInfo& info, const std::string& fingerprint, const torch::Tensor& pooled) {
  return {{"id", info.id},
          {"model", fingerprint},
          {"shape", pooled.sizes().vec()},
          {"chunks", pooled.size(0)},  // from the vectors, whatever info says
          {"context_tokens", info.context_tokens},
          {"created", info.created},
          {"metadata", info.metadata}};
}

int64_t file_mtime(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec
                                        : 0;
}

}  // namespace

std::string document_id(std::string_view model_fingerprint, std::string_view text) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  E2LLM_CHECK(ctx != nullptr, "document id: out of memory");
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  const char separator = '\0';
  const bool ok = EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, model_fingerprint.data(), model_fingerprint.size()) == 1 &&
                  EVP_DigestUpdate(ctx, &separator, 1) == 1 && EVP_DigestUpdate(ctx, text.data(), text.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, digest.data(), &length) == 1;
  EVP_MD_CTX_free(ctx);
  E2LLM_CHECK(ok && length >= 16, "document id: SHA-256 failed (OpenSSL)");
  return "doc-" + hex(digest.data(), 16);
}

bool is_document_id(std::string_view id) {
  if (id.size() != 36 || id.substr(0, 4) != "doc-") return false;
  return std::all_of(id.begin() + 4, id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string encode_document_file(const StoredDocument& document, const std::string& model_fingerprint) {
  const torch::Tensor pooled = document.pooled.to(torch::kFloat32).contiguous();
  E2LLM_CHECK(pooled.dim() == 3, "document {}: pooled vectors must be [chunks, k, hidden], got {} dims",
              document.info.id, pooled.dim());
  const std::string header = header_json(document.info, model_fingerprint, pooled).dump();
  std::string out;
  out.reserve(kMagic.size() + 8 + header.size() + pooled.nbytes() + kChecksumBytes);
  out.append(kMagic);
  append_u32(out, kDocumentFormatVersion);
  append_u32(out, static_cast<uint32_t>(header.size()));
  out.append(header);
  out.append(static_cast<const char*>(pooled.data_ptr()), pooled.nbytes());  // x86-64 and aarch64: little-endian
  out.append(fnv1a_hex(out.data(), out.size()));
  return out;
}

StoredDocument decode_document_file(std::string_view bytes, const std::string& model_fingerprint,
                                    const std::string& origin) {
  namespace jf = json_fields;
  const size_t fixed = kMagic.size() + 8;
  E2LLM_CHECK(bytes.size() >= fixed + kChecksumBytes, "{}: truncated ({} bytes)", origin, bytes.size());
  E2LLM_CHECK(bytes.substr(0, kMagic.size()) == kMagic, "{}: not an e2llm document file (bad magic)", origin);
  const uint32_t version = read_u32(bytes, kMagic.size());
  E2LLM_CHECK(version == kDocumentFormatVersion, "{}: document format version {}, this e2llm reads version {}",
              origin, version, kDocumentFormatVersion);
  const std::string_view body = bytes.substr(0, bytes.size() - kChecksumBytes);
  E2LLM_CHECK(fnv1a_hex(body.data(), body.size()) == bytes.substr(body.size()),
              "{}: checksum mismatch (the file is damaged or truncated)", origin);
  const uint32_t header_size = read_u32(bytes, kMagic.size() + 4);
  E2LLM_CHECK(header_size <= kMaxHeaderBytes && fixed + header_size <= body.size(),
              "{}: header of {} bytes runs past the end of the file", origin, header_size);
  const nlohmann::json header = nlohmann::json::parse(body.substr(fixed, header_size), nullptr, false);
  E2LLM_CHECK(!header.is_discarded(), "{}: the header is not JSON", origin);
  const jf::Where where(origin);
  jf::require_object(header, where);
  const std::string model = jf::read<std::string>(jf::field(header, "model", where), where.key("model"));
  E2LLM_CHECK(model == model_fingerprint, "{}: made by another model (fingerprint {}, this model's is {})", origin,
              model, model_fingerprint);
  StoredDocument doc;
  doc.info.id = jf::read<std::string>(jf::field(header, "id", where), where.key("id"));
  E2LLM_CHECK(is_document_id(doc.info.id), "{}: field 'id' is not a document id: {}", origin,
              jf::shown(header.at("id")));
  const auto shape = jf::read<std::vector<int64_t>>(jf::field(header, "shape", where), where.key("shape"));
  E2LLM_CHECK(shape.size() == 3 && shape[0] > 0 && shape[1] > 0 && shape[2] > 0,
              "{}: field 'shape' must be three positive sizes [chunks, k, hidden]", origin);
  const std::string_view payload = body.substr(fixed + header_size);
  E2LLM_CHECK(shape[1] <= (1 << 20) && shape[2] <= (1 << 20) &&
                  static_cast<uint64_t>(shape[0]) * shape[1] * shape[2] * 4 == payload.size(),
              "{}: shape [{}, {}, {}] does not match the {} bytes of vectors", origin, shape[0], shape[1], shape[2],
              payload.size());
  doc.info.chunks = jf::read_integer(jf::field(header, "chunks", where), where.key("chunks"), 0, INT64_MAX);
  E2LLM_CHECK(doc.info.chunks == shape[0], "{}: field 'chunks' ({}) differs from the shape ({})", origin,
              doc.info.chunks, shape[0]);
  doc.info.context_tokens =
      jf::read_integer(jf::field(header, "context_tokens", where), where.key("context_tokens"), 0, INT64_MAX);
  doc.info.created = jf::read_integer(jf::field(header, "created", where), where.key("created"), 0, INT64_MAX);
  if (const nlohmann::json* meta = jf::find(header, "metadata", where)) doc.info.metadata = *meta;
  doc.info.soft_tokens = shape[0] * shape[1];
  doc.info.bytes = static_cast<int64_t>(bytes.size());
  doc.pooled = torch::empty(shape, torch::kFloat32);
  std::memcpy(doc.pooled.data_ptr(), payload.data(), payload.size());
  return doc;
}

DocumentStore::DocumentStore(std::string folder, int64_t max_bytes, std::string model_fingerprint)
    : folder_(std::move(folder)), max_bytes_(max_bytes), fingerprint_(std::move(model_fingerprint)) {
  if (folder_.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(folder_, ec);
  E2LLM_CHECK(!ec && is_directory(folder_), "document store: cannot create the folder {}: {}", folder_, ec.message());
  load_index();
  std::lock_guard lock(mutex_);
  evict_over_limit("");
}

std::string DocumentStore::path_of(const std::string& id) const {
  E2LLM_CHECK(is_document_id(id), "not a document id: '{}'", id);  // never a path from a client
  return folder_ + "/" + id + std::string(kExtension);
}

void DocumentStore::load_index() {
  std::vector<std::pair<int64_t, Entry>> found;  // (mtime, entry)
  for (const auto& file : std::filesystem::directory_iterator(folder_)) {
    const std::string name = file.path().filename().string();
    if (name.find(std::string(kExtension) + ".tmp-") != std::string::npos) {
      // A write that a crash interrupted: never renamed, so never part of the store.
      std::error_code ec;
      std::filesystem::remove(file.path(), ec);
      spdlog::info("document store: removed {} (an interrupted write)", name);
      continue;
    }
    if (!file.is_regular_file() || file.path().extension() != kExtension) continue;
    try {
      StoredDocument doc = decode_document_file(read_text_file(file.path().string()), fingerprint_, name);
      E2LLM_CHECK(name == doc.info.id + std::string(kExtension), "{}: holds document {}", name, doc.info.id);
      found.emplace_back(file_mtime(file.path().string()), Entry{std::move(doc.info), 0, {}});
    } catch (const std::exception& e) {
      skipped_.push_back(e.what());
      spdlog::warn("document store: skipped {}", e.what());
    }
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::lock_guard lock(mutex_);
  for (auto& [mtime, entry] : found) {
    entry.last_use = ++clock_;
    total_bytes_ += entry.info.bytes;
    entries_[entry.info.id] = std::move(entry);
  }
  spdlog::info("document store: {} documents ({} bytes) in {}{}", entries_.size(), total_bytes_, folder_,
               skipped_.empty() ? "" : fmt::format(", {} files skipped", skipped_.size()));
}

DocumentStore::Entry* DocumentStore::use(const std::string& id) {
  if (!is_document_id(id)) return nullptr;
  auto it = entries_.find(id);
  if (it == entries_.end()) return nullptr;
  it->second.last_use = ++clock_;
  if (!folder_.empty()) ::utimensat(AT_FDCWD, path_of(id).c_str(), nullptr, 0);  // the file's mtime is its last use
  return &it->second;
}

std::optional<StoredDocument> DocumentStore::get(const std::string& id) {
  std::lock_guard lock(mutex_);
  Entry* entry = use(id);
  if (!entry) return std::nullopt;
  if (folder_.empty()) return StoredDocument{entry->info, entry->pooled};
  const std::string path = path_of(id);
  try {
    StoredDocument doc = decode_document_file(read_text_file(path), fingerprint_, path);
    doc.info.metadata = entry->info.metadata;
    return doc;
  } catch (const std::exception& e) {
    // Damaged or removed behind our back: forget it; the caller encodes again.
    spdlog::warn("document store: dropped {}: {}", id, e.what());
    total_bytes_ -= entry->info.bytes;
    entries_.erase(id);
    return std::nullopt;
  }
}

std::optional<DocumentInfo> DocumentStore::touch(const std::string& id) {
  std::lock_guard lock(mutex_);
  const Entry* entry = use(id);
  return entry ? std::optional<DocumentInfo>(entry->info) : std::nullopt;
}

std::optional<DocumentInfo> DocumentStore::info(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return it->second.info;
}

std::vector<DocumentInfo> DocumentStore::list() const {
  std::lock_guard lock(mutex_);
  std::vector<DocumentInfo> out;
  for (const auto& [id, entry] : entries_) out.push_back(entry.info);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.created > b.created; });
  return out;
}

DocumentInfo DocumentStore::put(StoredDocument document) {
  E2LLM_CHECK(is_document_id(document.info.id), "not a document id: '{}'", document.info.id);
  document.pooled = document.pooled.to(torch::kFloat32).contiguous();
  document.info.chunks = document.pooled.size(0);
  document.info.soft_tokens = document.pooled.size(0) * document.pooled.size(1);
  Entry entry{document.info, 0, {}};
  if (folder_.empty()) {
    entry.info.bytes = static_cast<int64_t>(document.pooled.nbytes());
    entry.pooled = document.pooled;
  } else {
    const std::string bytes = encode_document_file(document, fingerprint_);
    write_file_atomic(path_of(document.info.id), bytes);
    entry.info.bytes = static_cast<int64_t>(bytes.size());
  }
  std::lock_guard lock(mutex_);
  auto old = entries_.find(entry.info.id);
  if (old != entries_.end()) total_bytes_ -= old->second.info.bytes;
  entry.last_use = ++clock_;
  total_bytes_ += entry.info.bytes;
  DocumentInfo stored = entry.info;
  entries_[stored.id] = std::move(entry);
  evict_over_limit(stored.id);
  return stored;
}

bool DocumentStore::erase(const std::string& id) {
  if (!is_document_id(id)) return false;
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  if (!folder_.empty()) {
    std::error_code ec;
    std::filesystem::remove(path_of(id), ec);
  }
  total_bytes_ -= it->second.info.bytes;
  entries_.erase(it);
  return true;
}

void DocumentStore::evict_over_limit(const std::string& keep) {
  while (max_bytes_ > 0 && total_bytes_ > max_bytes_) {
    auto victim = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->first != keep && (victim == entries_.end() || it->second.last_use < victim->second.last_use))
        victim = it;
    if (victim == entries_.end()) break;  // only `keep` is left: one document may exceed the limit alone
    spdlog::info("document store: evicted {} ({} bytes, least recently used)", victim->first,
                 victim->second.info.bytes);
    if (!folder_.empty()) {
      std::error_code ec;
      std::filesystem::remove(path_of(victim->first), ec);
    }
    total_bytes_ -= victim->second.info.bytes;
    entries_.erase(victim);
    ++evictions_;
  }
}

int64_t DocumentStore::bytes() const {
  std::lock_guard lock(mutex_);
  return total_bytes_;
}

size_t DocumentStore::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

int64_t DocumentStore::evictions() const {
  std::lock_guard lock(mutex_);
  return evictions_;
}

}  // namespace e2llm
