// The document store of `e2llm serve`: ids, the file format and what it
// refuses, persistence across restarts, damaged files, LRU eviction.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "e2llm/core/error.h"
#include "e2llm/io/base_model.h"
#include "e2llm/io/fs.h"
#include "e2llm/serve/document_store.h"
#include "test_util.h"

namespace e2llm {
namespace {

const std::string kModel = "0123456789abcdef";

StoredDocument make_document(const std::string& text, int64_t chunks, int64_t seed) {
  StoredDocument d;
  d.info.id = document_id(kModel, text);
  d.info.context_tokens = chunks * 30;
  d.info.created = 1700000000 + seed;
  d.info.metadata = {{"title", text}};
  d.pooled = torch::randn({chunks, 2, 8}, torch::TensorOptions().dtype(torch::kFloat32)) + static_cast<double>(seed);
  return d;
}

std::string file_of(const std::string& folder, const std::string& id) { return folder + "/" + id + ".e2doc"; }

TEST(DocumentId, DependsOnModelAndTextAndHasOneForm) {
  const std::string a = document_id(kModel, "some text");
  EXPECT_EQ(a, document_id(kModel, "some text"));
  EXPECT_NE(a, document_id(kModel, "some text."));
  EXPECT_NE(a, document_id("fedcba9876543210", "some text"));
  // The separator keeps (model, text) pairs apart that concatenate alike.
  EXPECT_NE(document_id("ab", "c"), document_id("a", "bc"));
  EXPECT_TRUE(is_document_id(a)) << a;
  EXPECT_EQ(a.size(), 36u);
  for (const std::string bad : {"", "doc-", "doc-../../etc/passwd", "DOC-0123456789abcdef0123456789abcdef",
                                "doc-0123456789ABCDEF0123456789abcdef", "doc-0123456789abcdef0123456789abcde",
                                "doc-0123456789abcdef0123456789abcdef0", "doc-0123456789abcdef0123456789abcde/"})
    EXPECT_FALSE(is_document_id(bad)) << bad;
}

TEST(DocumentFile, RoundTrips) {
  torch::manual_seed(1);
  StoredDocument d = make_document("alpha", 3, 0);
  const std::string bytes = encode_document_file(d, kModel);
  StoredDocument back = decode_document_file(bytes, kModel, "x.e2doc");
  EXPECT_EQ(back.info.id, d.info.id);
  EXPECT_EQ(back.info.chunks, 3);
  EXPECT_EQ(back.info.soft_tokens, 6);
  EXPECT_EQ(back.info.context_tokens, 90);
  EXPECT_EQ(back.info.created, d.info.created);
  EXPECT_EQ(back.info.metadata, d.info.metadata);
  EXPECT_EQ(back.info.bytes, static_cast<int64_t>(bytes.size()));
  EXPECT_TRUE(torch::equal(back.pooled, d.pooled));
}

void expect_refused(const std::string& bytes, const std::string& model, const std::string& needle) {
  try {
    decode_document_file(bytes, model, "bad.e2doc");
    ADD_FAILURE() << "accepted; expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.e2doc"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(DocumentFile, RefusesDamagedOtherModelAndOtherVersionFiles) {
  torch::manual_seed(2);
  const std::string good = encode_document_file(make_document("beta", 2, 0), kModel);
  for (size_t n : {size_t{0}, size_t{7}, size_t{20}, good.size() / 2, good.size() - 1})
    EXPECT_THROW(decode_document_file(good.substr(0, n), kModel, "bad.e2doc"), Error) << n;
  expect_refused(good.substr(0, 10), kModel, "truncated");
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x01;
  expect_refused(flipped, kModel, "checksum");
  std::string magic = good;
  magic[0] = 'X';
  expect_refused(magic, kModel, "magic");
  expect_refused(good, "fedcba9876543210", "another model");
  // A later format version, with a valid checksum: refused by its version.
  std::string later = good.substr(0, good.size() - 16);
  later[8] = 2;
  later += fnv1a_hex(later.data(), later.size());
  expect_refused(later, kModel, "version 2");
}

TEST(DocumentStore, KeepsDocumentsAcrossRestartsAndSkipsBadFiles) {
  test::TempDir dir;
  torch::manual_seed(3);
  StoredDocument a = make_document("alpha", 3, 0), b = make_document("beta", 1, 1);
  {
    DocumentStore store(dir.path(), 0, kModel);
    EXPECT_EQ(store.size(), 0u);
    store.put(a);
    store.put(b);
    EXPECT_EQ(store.size(), 2u);
  }
  // Damage beside the good files: a truncated copy, a file of another model,
  // a non-document file, and a temp file that a crash left behind.
  const std::string good_bytes = read_text_file(file_of(dir.path(), a.info.id));
  StoredDocument c = make_document("gamma", 1, 2);
  write_file_atomic(file_of(dir.path(), c.info.id), good_bytes.substr(0, good_bytes.size() - 5));
  StoredDocument other = make_document("delta", 1, 3);
  write_file_atomic(file_of(dir.path(), other.info.id), encode_document_file(other, "fedcba9876543210"));
  write_file_atomic(dir.file("notes.txt"), "not a document");
  write_file_atomic(file_of(dir.path(), c.info.id) + ".tmp-abc123", "half written");

  DocumentStore store(dir.path(), 0, kModel);
  EXPECT_EQ(store.size(), 2u);
  ASSERT_EQ(store.skipped().size(), 2u);
  EXPECT_FALSE(std::filesystem::exists(file_of(dir.path(), c.info.id) + ".tmp-abc123"));
  EXPECT_TRUE(std::filesystem::exists(dir.file("notes.txt")));
  std::optional<StoredDocument> got = store.get(a.info.id);
  ASSERT_TRUE(got);
  EXPECT_TRUE(torch::equal(got->pooled, a.pooled));
  EXPECT_EQ(got->info.metadata, a.info.metadata);
  EXPECT_FALSE(store.get(c.info.id));
  EXPECT_FALSE(store.get(other.info.id));
  EXPECT_FALSE(store.get("doc-../../etc/passwd"));
  ASSERT_EQ(store.list().size(), 2u);
  EXPECT_EQ(store.list()[0].id, b.info.id);  // newest first
  EXPECT_TRUE(store.erase(b.info.id));
  EXPECT_FALSE(store.erase(b.info.id));
  EXPECT_FALSE(std::filesystem::exists(file_of(dir.path(), b.info.id)));
  EXPECT_EQ(store.size(), 1u);
}

TEST(DocumentStore, DropsTheLeastRecentlyUsedPastItsLimitAndRemembersUseAcrossRestarts) {
  test::TempDir dir;
  torch::manual_seed(4);
  StoredDocument a = make_document("alpha", 2, 0), b = make_document("beta", 2, 1), c = make_document("gamma", 2, 2),
                 d = make_document("delta", 2, 3);
  const int64_t one = static_cast<int64_t>(encode_document_file(a, kModel).size());
  {
    DocumentStore store(dir.path(), 2 * one + one / 2, kModel);  // room for two
    store.put(a);
    store.put(b);
    ASSERT_TRUE(store.get(a.info.id));  // a is now more recent than b
    store.put(c);
    EXPECT_EQ(store.size(), 2u);
    EXPECT_EQ(store.evictions(), 1);
    EXPECT_FALSE(store.info(b.info.id));
    EXPECT_FALSE(std::filesystem::exists(file_of(dir.path(), b.info.id)));
    EXPECT_TRUE(store.info(a.info.id));
    EXPECT_LE(store.bytes(), 2 * one + one / 2);
    // A file's mtime is its last use; file times tick in milliseconds.
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    // touch() counts a use without reading the vectors: c is now the least recent.
    const std::optional<DocumentInfo> touched = store.touch(a.info.id);
    ASSERT_TRUE(touched);
    EXPECT_EQ(touched->chunks, 2);
    EXPECT_FALSE(store.touch(b.info.id)) << "evicted";
    EXPECT_FALSE(store.touch("../x"));
  }
  DocumentStore store(dir.path(), 2 * one + one / 2, kModel);
  store.put(d);
  EXPECT_TRUE(store.info(a.info.id));
  EXPECT_FALSE(store.info(c.info.id));
  EXPECT_TRUE(store.info(d.info.id));
}

TEST(DocumentStore, InMemoryStoreWorksWithoutAFolder) {
  torch::manual_seed(5);
  DocumentStore store("", 0, kModel);
  StoredDocument a = make_document("alpha", 2, 0);
  DocumentInfo info = store.put(a);
  EXPECT_EQ(info.bytes, static_cast<int64_t>(a.pooled.nbytes()));
  std::optional<StoredDocument> got = store.get(a.info.id);
  ASSERT_TRUE(got);
  EXPECT_TRUE(torch::equal(got->pooled, a.pooled));
  EXPECT_THROW(store.put(StoredDocument{DocumentInfo{"../x"}, a.pooled}), Error);
}

}  // namespace
}  // namespace e2llm
