#include <torch/torch.h>

#include <fstream>

#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "e2llm/io/safetensors.h"
#include "test_util.h"

using namespace e2llm;
using e2llm::test::TempDir;

namespace {

std::string make_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string expect_error(const std::string& path) {
  try {
    SafeTensorsFile::open(path);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for " << path;
  return "";
}

}  // namespace

TEST(SafeTensors, RoundTripsEveryDtypeWithMetadata) {
  TempDir dir;
  torch::manual_seed(0);
  std::map<std::string, torch::Tensor> tensors = {
      {"f32", torch::randn({3, 4})},
      {"f16", torch::randn({5}).to(torch::kFloat16)},
      {"bf16", torch::randn({2, 2, 2}).to(torch::kBFloat16)},
      {"i64", torch::arange(7, torch::kInt64)},
      {"i32", torch::arange(6, torch::kInt32).reshape({2, 3})},
      {"u8", torch::arange(4, torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(3.5f)},
      {"empty", torch::zeros({0, 4})},
      {"strided", torch::randn({4, 6}).t()},  // non-contiguous input
  };
  save_safetensors(dir.file("a.safetensors"), tensors, {{"format", "pt"}});
  auto st = SafeTensorsFile::open(dir.file("a.safetensors"));
  EXPECT_EQ(st->metadata().at("format"), "pt");
  EXPECT_EQ(st->names().size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    torch::Tensor back = st->get(name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(back.sizes(), t.sizes()) << name;
    EXPECT_TRUE(torch::equal(back, t)) << name;
  }
  EXPECT_EQ(st->meta("bf16").dtype, "BF16");
}

TEST(SafeTensors, TensorsOutliveTheFileObjectAndWritesDoNotTouchTheFile) {
  TempDir dir;
  save_safetensors(dir.file("a.safetensors"), {{"w", torch::ones({4})}});
  torch::Tensor t;
  {
    auto st = SafeTensorsFile::open(dir.file("a.safetensors"));
    t = st->get("w");
  }
  t.mul_(2);  // copy-on-write mapping: in-place is safe
  EXPECT_TRUE(torch::equal(t, torch::full({4}, 2.0f)));
  EXPECT_TRUE(torch::equal(SafeTensorsFile::open(dir.file("a.safetensors"))->get("w"), torch::ones({4})));
}

TEST(SafeTensors, DataSectionIsAligned) {
  TempDir dir;
  save_safetensors(dir.file("a.safetensors"), {{"x", torch::ones({3})}}, {{"k", "v"}});
  std::string bytes = read_text_file(dir.file("a.safetensors"));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ((8 + n) % 8, 0u);
}

TEST(SafeTensors, ShardedFolderThroughIndex) {
  TempDir dir;
  save_safetensors(dir.file("model-00001-of-00002.safetensors"), {{"a", torch::ones({2})}});
  save_safetensors(dir.file("model-00002-of-00002.safetensors"), {{"b", torch::zeros({3})}});
  write_file_atomic(dir.file("model.safetensors.index.json"),
                    R"({"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                        "b": "model-00002-of-00002.safetensors"}})");
  auto w = open_weights(dir.path());
  EXPECT_TRUE(w->has("a"));
  EXPECT_TRUE(w->has("b"));
  EXPECT_EQ(w->get("b").numel(), 3);
  EXPECT_THROW(w->get("c"), Error);
  auto p = prefixed(w, "");
  EXPECT_EQ(p->names().size(), 2u);
}

TEST(SafeTensors, GetWithShapeChecksAndConverts) {
  TempDir dir;
  save_safetensors(dir.file("a.safetensors"), {{"w", torch::ones({2, 3}).to(torch::kBFloat16)}});
  auto st = SafeTensorsFile::open(dir.file("a.safetensors"));
  EXPECT_EQ(st->get("w", {2, 3}).scalar_type(), torch::kFloat32);
  try {
    st->get("w", {3, 2});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'w' has shape 2x3"), std::string::npos) << e.what();
  }
}

TEST(SafeTensors, RejectsBadFilesWithReasons) {
  TempDir dir;
  const std::string good_header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  struct Case {
    std::string name, bytes, expect;
  } cases[] = {
      {"short", "abc", "too short"},
      {"inflated", make_file(good_header, std::string(8, '\0')).replace(0, 1, "\xff"), "past the end"},
      {"huge_header", std::string("\x00\x00\x00\x00\x01\x00\x00\x00", 8) + "{}", "limit"},
      {"truncated", make_file(good_header, std::string(4, '\0')), "truncated"},
      {"not_json", make_file("{not json}", ""), "not valid JSON"},
      {"not_object", make_file("[1,2]", ""), "not a JSON object"},
      {"bad_dtype", make_file(R"({"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", "x"), "unsupported dtype"},
      {"size_mismatch", make_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0')), "span 8 bytes"},
      {"reversed", make_file(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", std::string(8, '\0')), "begin 4 > end 0"},
      {"negative_dim", make_file(R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", "x"), "negative"},
      {"overflow", make_file(R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,1]}})", "x"), "overflows"},
      {"overlap", make_file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})", std::string(8, '\0')), "overlap"},
      {"bad_meta", make_file(R"({"__metadata__":{"k":1}})", ""), "not a string"},
  };
  for (const auto& c : cases) {
    write_bytes(dir.file(c.name), c.bytes);
    std::string msg = expect_error(dir.file(c.name));
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(dir.file(c.name)), std::string::npos) << c.name << ": " << msg;
  }
  EXPECT_THROW(SafeTensorsFile::open(dir.file("missing")), Error);
}

TEST(SafeTensors, RejectsInvalidBoolBytes) {
  TempDir dir;
  write_bytes(dir.file("b"), make_file(R"({"a":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", "\x01\x07"));
  auto st = SafeTensorsFile::open(dir.file("b"));
  EXPECT_THROW(st->get("a"), Error);
}

TEST(AtomicWrite, ReplacesWholeFileAndLeavesNoTemporaries) {
  TempDir dir;
  write_file_atomic(dir.file("x"), "first");
  write_file_atomic(dir.file("x"), "second");
  EXPECT_EQ(read_text_file(dir.file("x")), "second");
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) (void)e, ++files;
  EXPECT_EQ(files, 1);
  {
    AtomicFileWriter w(dir.file("x"));
    w.write("partial", 7);
    // destroyed without commit: the old file stays
  }
  EXPECT_EQ(read_text_file(dir.file("x")), "second");
}
