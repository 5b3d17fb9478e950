// GGUF reader: hand-built files for every metadata type and corruption class,
// and bit-exact dequantization against gguf-py (tests/golden/gguf).
#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <gmock/gmock.h>
#include <set>
#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "e2llm/io/gguf.h"
#include "e2llm/io/safetensors.h"
#include "test_util.h"

using namespace e2llm;
using e2llm::test::TempDir;

namespace {

// Writes GGUF files byte by byte, so tests can also write broken ones.
class GgufBuilder {
 public:
  explicit GgufBuilder(uint32_t version = 3) : version_(version) {}

  static void put(std::string& out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  static void put_str(std::string& out, const std::string& s) {
    put(out, s.size(), 8);
    out += s;
  }

  // A key with an already-encoded value of `type`.
  GgufBuilder& kv(const std::string& key, GgufValueType type, const std::string& encoded) {
    put_str(kv_, key);
    put(kv_, static_cast<uint32_t>(type), 4);
    kv_ += encoded;
    ++n_kv_;
    return *this;
  }
  GgufBuilder& kv_uint(const std::string& key, GgufValueType type, uint64_t v, int bytes) {
    std::string e;
    put(e, v, bytes);
    return kv(key, type, e);
  }
  GgufBuilder& kv_u32(const std::string& key, uint32_t v) {
    return kv_uint(key, GgufValueType::U32, v, 4);
  }
  GgufBuilder& kv_string(const std::string& key, const std::string& s) {
    std::string e;
    put_str(e, s);
    return kv(key, GgufValueType::STRING, e);
  }
  GgufBuilder& tensor(const std::string& name, std::vector<uint64_t> dims, GgmlType type,
                      uint64_t offset) {
    put_str(tensors_, name);
    put(tensors_, dims.size(), 4);
    for (uint64_t d : dims) put(tensors_, d, 8);
    put(tensors_, static_cast<uint32_t>(type), 4);
    put(tensors_, offset, 8);
    ++n_tensors_;
    return *this;
  }
  // The whole file: header, padding to `alignment`, then `data`.
  std::string build(const std::string& data = "", uint64_t alignment = 32) const {
    std::string out = "GGUF";
    put(out, version_, 4);
    put(out, n_tensors_, 8);
    put(out, n_kv_, 8);
    out += kv_ + tensors_;
    while (out.size() % alignment) out.push_back('\0');
    return out + data;
  }

 private:
  uint32_t version_;
  uint64_t n_kv_ = 0, n_tensors_ = 0;
  std::string kv_, tensors_;
};

std::string floats_bytes(const std::vector<float>& v) {
  const char* p = reinterpret_cast<const char*>(v.data());
  return std::string(p, p + v.size() * sizeof(float));
}

// Appends the parts (a chain of std::string operator+ trips a GCC 12 false
// -Wstringop-overflow at -O3).
std::string concat(std::initializer_list<std::string> parts) {
  std::string out;
  for (const auto& p : parts) out.append(p);
  return out;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string parse_error(const std::string& bytes) {
  try {
    parse_gguf(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem.gguf");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A small valid file with metadata of several kinds and two F32 tensors.
std::string small_file() {
  std::string arr;
  GgufBuilder::put(arr, static_cast<uint32_t>(GgufValueType::STRING), 4);
  GgufBuilder::put(arr, 2, 8);
  GgufBuilder::put_str(arr, "ab");
  GgufBuilder::put_str(arr, "c");
  return GgufBuilder()
      .kv_string("general.architecture", "llama")
      .kv("tok", GgufValueType::ARRAY, arr)
      .kv_uint("flag", GgufValueType::BOOL, 1, 1)
      .tensor("a", {2, 2}, GgmlType::F32, 0)
      .tensor("b", {3}, GgmlType::F32, 32)
      .build(floats_bytes({1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7}));
}

}  // namespace

TEST(Gguf, ReadsEveryMetadataType) {
  TempDir dir;
  std::string nested, ints, floats, bools;
  GgufBuilder::put(ints, static_cast<uint32_t>(GgufValueType::I16), 4);
  GgufBuilder::put(ints, 3, 8);
  for (int v : {-1, 7, 300}) GgufBuilder::put(ints, static_cast<uint16_t>(v), 2);
  GgufBuilder::put(floats, static_cast<uint32_t>(GgufValueType::F64), 4);
  GgufBuilder::put(floats, 2, 8);
  for (double d : {0.5, -2.0}) {
    uint64_t bits;
    std::memcpy(&bits, &d, 8);
    GgufBuilder::put(floats, bits, 8);
  }
  GgufBuilder::put(nested, static_cast<uint32_t>(GgufValueType::ARRAY), 4);
  GgufBuilder::put(nested, 2, 8);
  nested += ints + floats;
  GgufBuilder::put(bools, static_cast<uint32_t>(GgufValueType::BOOL), 4);
  GgufBuilder::put(bools, 2, 8);
  bools += std::string("\x01\x00", 2);
  float f = 1.5f;
  uint32_t fbits;
  std::memcpy(&fbits, &f, 4);
  GgufBuilder b;
  b.kv_uint("u8", GgufValueType::U8, 250, 1)
      .kv_uint("i8", GgufValueType::I8, 0x80, 1)
      .kv_uint("u16", GgufValueType::U16, 65535, 2)
      .kv_uint("i16", GgufValueType::I16, 0xfffe, 2)
      .kv_uint("u32", GgufValueType::U32, 4000000000u, 4)
      .kv_uint("i32", GgufValueType::I32, 0xffffffff, 4)
      .kv_uint("f32", GgufValueType::F32, fbits, 4)
      .kv_uint("bool", GgufValueType::BOOL, 0, 1)
      .kv_string("str", "héllo")
      .kv_uint("u64", GgufValueType::U64, ~0ull, 8)
      .kv_uint("i64", GgufValueType::I64, static_cast<uint64_t>(-5), 8)
      .kv_uint("f64", GgufValueType::F64, 0x3ff8000000000000ull, 8)  // 1.5
      .kv("ints", GgufValueType::ARRAY, ints)
      .kv("floats", GgufValueType::ARRAY, floats)
      .kv("nested", GgufValueType::ARRAY, nested)
      .kv("bools", GgufValueType::ARRAY, bools);
  write_bytes(dir.file("m.gguf"), b.build());
  auto f_ = GgufFile::open(dir.file("m.gguf"));
  const GgufFile& g = *f_;
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.get_int("u8"), 250);
  EXPECT_EQ(g.get_int("i8"), -128);
  EXPECT_EQ(g.get_int("u16"), 65535);
  EXPECT_EQ(g.get_int("i16"), -2);
  EXPECT_EQ(g.get_int("u32"), 4000000000);
  EXPECT_EQ(g.get_int("i32"), -1);
  EXPECT_EQ(g.get_float("f32"), 1.5);
  EXPECT_FALSE(g.get_bool("bool"));
  EXPECT_EQ(g.get_string("str"), "héllo");
  EXPECT_EQ(g.value("u64").to_text(), "18446744073709551615");
  EXPECT_EQ(g.get_int("i64"), -5);
  EXPECT_EQ(g.get_float("f64"), 1.5);
  EXPECT_EQ(g.get_int_array("ints"), (std::vector<int64_t>{-1, 7, 300}));
  EXPECT_EQ(g.get_float_array("floats"), (std::vector<float>{0.5f, -2.0f}));
  EXPECT_EQ(g.value("bools").as_bools(), (std::vector<bool>{true, false}));
  const auto& inner = g.value("nested").as_arrays();
  ASSERT_EQ(inner.size(), 2u);
  EXPECT_EQ(inner[0].as_ints(), (std::vector<int64_t>{-1, 7, 300}));
  EXPECT_EQ(inner[1].as_floats(), (std::vector<float>{0.5f, -2.0f}));
  EXPECT_EQ(g.value("nested").to_text(), "[[-1, 7, 300], [0.5, -2]]");
  // Keys keep file order.
  EXPECT_EQ(g.metadata().front().first, "u8");
  EXPECT_EQ(g.metadata().back().first, "bools");
}

TEST(Gguf, TypeMismatchesAndMissingKeysNameTheKey) {
  TempDir dir;
  write_bytes(dir.file("s.gguf"), small_file());
  auto g = GgufFile::open(dir.file("s.gguf"));
  auto message = [&](auto fn) {
    try {
      fn();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(message([&] { g->get_int("general.architecture"); }),
              testing::AllOf(testing::HasSubstr("'general.architecture'"),
                             testing::HasSubstr("not an integer")));
  EXPECT_THAT(message([&] { g->get_string("missing.key"); }),
              testing::HasSubstr("no metadata key 'missing.key'"));
  EXPECT_THAT(message([&] { g->get_float_array("tok"); }),
              testing::HasSubstr("an array of 2 string"));
  EXPECT_EQ(g->get_string_array("tok"), (std::vector<std::string>{"ab", "c"}));
  EXPECT_TRUE(g->get_bool("flag"));
  EXPECT_EQ(g->architecture(), "llama");
}

TEST(Gguf, TensorsShapesAndAlignment) {
  TempDir dir;
  write_bytes(dir.file("s.gguf"), small_file());
  auto g = GgufFile::open(dir.file("s.gguf"));
  EXPECT_EQ(g->alignment(), 32u);
  ASSERT_EQ(g->tensors().size(), 2u);
  EXPECT_EQ(g->tensors()[0].dims, (std::vector<uint64_t>{2, 2}));
  torch::Tensor b = g->load_tensor("b");
  EXPECT_TRUE(torch::equal(b, torch::tensor({5.f, 6.f, 7.f})));

  // A custom alignment moves the data section and constrains offsets.
  const std::string data =
      concat({floats_bytes({1, 2, 3, 4, 5, 6}), std::string(40, '\0'), floats_bytes({9, 8})});
  write_bytes(dir.file("a.gguf"), GgufBuilder()
                                      .kv_u32("general.alignment", 64)
                                      .tensor("m", {3, 2}, GgmlType::F32, 0)
                                      .tensor("v", {2}, GgmlType::F32, 64)
                                      .build(data, 64));
  auto a = GgufFile::open(dir.file("a.gguf"));
  EXPECT_EQ(a->alignment(), 64u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a->tensor_data(a->tensors()[1])) % 64, 0u);
  EXPECT_EQ(a->tensors()[0].shape(), (std::vector<int64_t>{2, 3}));  // PyTorch order
  EXPECT_TRUE(torch::equal(a->load_tensor("m"), torch::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}).reshape({2, 3})));
  EXPECT_TRUE(torch::equal(a->load_tensor("v"), torch::tensor({9.f, 8.f})));
}

TEST(Gguf, RejectsBadHeadersWithReasons) {
  const std::string f32x4 = floats_bytes({1, 2, 3, 4});
  auto with_tensor = [&](std::vector<uint64_t> dims, GgmlType type, uint64_t offset,
                         const std::string& data) {
    return GgufBuilder().tensor("w", dims, type, offset).build(data);
  };
  std::string huge_array;
  GgufBuilder::put(huge_array, static_cast<uint32_t>(GgufValueType::U32), 4);
  GgufBuilder::put(huge_array, 1ull << 60, 8);
  std::string deep;
  for (int i = 0; i < 20; ++i) {
    GgufBuilder::put(deep, static_cast<uint32_t>(GgufValueType::ARRAY), 4);
    GgufBuilder::put(deep, 1, 8);
  }
  std::string str_elem_too_long;
  GgufBuilder::put(str_elem_too_long, static_cast<uint32_t>(GgufValueType::STRING), 4);
  GgufBuilder::put(str_elem_too_long, 1, 8);
  GgufBuilder::put(str_elem_too_long, 1000, 8);
  std::string v2 = GgufBuilder(2).build();
  struct Case {
    std::string name, bytes, expect;
  } cases[] = {
      {"empty", "", "truncated at byte 0"},
      {"magic", "GGUX" + std::string(20, '\0'), "not a GGUF file"},
      {"v1", GgufBuilder(1).build(), "version 1 is not supported"},
      {"v4", GgufBuilder(4).build(), "unsupported GGUF version 4"},
      {"big_endian", GgufBuilder(0x03000000).build(), "big-endian"},
      {"tensor_count", std::string("GGUF\x03\0\0\0", 8) + std::string("\xff\xff\xff\xff\xff\xff\xff\x0f", 8) + std::string(8, '\0'), "tensor count"},
      {"kv_count", std::string("GGUF\x03\0\0\0", 8) + std::string(8, '\0') + std::string("\0\0\0\0\0\0\x01\0", 8), "key/value count"},
      {"key_length", GgufBuilder().kv_string(std::string(1, 'k'), "v").build().replace(24, 8, std::string("\xff\xff\xff\xff\0\0\0\0", 8)), "claims 4294967295 bytes"},
      {"value_type", GgufBuilder().kv_uint("k", static_cast<GgufValueType>(13), 0, 4).build(), "unknown value type of 'k' 13"},
      {"array_length", GgufBuilder().kv("arr", GgufValueType::ARRAY, huge_array).build(), "array length of 'arr'"},
      {"nesting", GgufBuilder().kv("deep", GgufValueType::ARRAY, deep).build(), "nested more than"},
      {"string_element", GgufBuilder().kv("s", GgufValueType::ARRAY, str_elem_too_long).build(), "string element of 's' claims 1000"},
      {"bool_value", GgufBuilder().kv_uint("b", GgufValueType::BOOL, 2, 1).build(), "bool value of 'b' is 2"},
      {"duplicate_key", GgufBuilder().kv_u32("k", 1).kv_u32("k", 2).build(), "'k' appears twice"},
      {"alignment_type", GgufBuilder().kv_uint("general.alignment", GgufValueType::U64, 32, 8).build(), "expected a u32"},
      {"alignment_value", GgufBuilder().kv_u32("general.alignment", 48).build(), "not a power of two"},
      {"tensor_type", with_tensor({4}, static_cast<GgmlType>(99), 0, f32x4), "unknown ggml type 99"},
      {"n_dims", with_tensor({1, 1, 1, 1, 4}, GgmlType::F32, 0, f32x4), "5 dimensions"},
      {"dims_overflow", with_tensor({1ull << 40, 1ull << 40}, GgmlType::F32, 0, f32x4), "dimensions overflow"},
      {"negative_dim", with_tensor({~0ull}, GgmlType::F32, 0, f32x4), "dimensions overflow"},
      {"block_multiple", with_tensor({33}, GgmlType::Q8_0, 0, std::string(64, '\0')), "not a multiple of the block size 32"},
      {"out_of_bounds", with_tensor({8}, GgmlType::F32, 0, f32x4), "runs past the end"},
      {"offset_past_end", with_tensor({4}, GgmlType::F32, 1ull << 62, f32x4), "runs past the end"},
      {"misaligned", with_tensor({2}, GgmlType::F32, 4, f32x4), "not a multiple of the alignment 32"},
      {"overlap", GgufBuilder().tensor("x", {16}, GgmlType::F32, 0).tensor("y", {4}, GgmlType::F32, 32).build(std::string(64, '\0')), "'x' and 'y' overlap"},
      {"duplicate_tensor", GgufBuilder().tensor("x", {1}, GgmlType::F32, 0).tensor("x", {1}, GgmlType::F32, 32).build(std::string(64, '\0')), "'x' appears twice"},
      {"no_data_section", GgufBuilder().tensor("x", {1}, GgmlType::F32, 0).build().substr(0, 60), "truncated"},
  };
  for (const auto& c : cases) {
    const std::string msg = parse_error(c.bytes);
    EXPECT_THAT(msg, testing::HasSubstr(c.expect)) << c.name;
    EXPECT_THAT(msg, testing::HasSubstr("mem.gguf")) << c.name;
  }
  EXPECT_EQ(parse_error(v2), "");  // version 2 is fine
}

TEST(Gguf, EveryTruncationIsAnErrorNeverACrash) {
  const std::string file = small_file();
  ASSERT_EQ(parse_error(file), "");
  // The last tensor ends 12 bytes before the end of the file's data, so every
  // shorter prefix cuts something the header needs.
  for (size_t n = 0; n < file.size(); ++n) {
    const std::string msg = parse_error(file.substr(0, n));
    EXPECT_FALSE(msg.empty()) << "prefix of " << n << " bytes parsed";
    EXPECT_THAT(msg, testing::HasSubstr("mem.gguf")) << n;
  }
}

TEST(Gguf, BitFlipsNeverCrash) {
  const std::string file = small_file();
  int rejected = 0;
  for (size_t i = 0; i < file.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = file;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      try {
        GgufHeader h = parse_gguf(reinterpret_cast<const uint8_t*>(bad.data()), bad.size(), "x");
        for (const auto& t : h.tensors)  // whatever parsed must lie inside the buffer
          EXPECT_LE(h.data_offset + t.offset + t.n_bytes, bad.size());
      } catch (const Error&) {
        ++rejected;
      }
    }
  }
  EXPECT_GT(rejected, 0);
}

TEST(Gguf, DequantizesBitExactlyLikeGgufPy) {
  const std::string dir = e2llm::test::golden_dir() + "/gguf";
  auto g = GgufFile::open(dir + "/dequant.gguf");
  auto expected = SafeTensorsFile::open(dir + "/dequant_expected.safetensors");
  std::set<std::string> types_seen;
  for (const auto& info : g->tensors()) {
    SCOPED_TRACE(info.name);
    torch::Tensor want = expected->get(info.name);
    torch::Tensor got = g->load_tensor(info.name).to(torch::kFloat32).contiguous();
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_EQ(std::memcmp(got.data_ptr<float>(), want.data_ptr<float>(), want.numel() * 4), 0);
    EXPECT_GT(got.abs().sum().item<float>(), 0.0f);
    types_seen.insert(ggml_type_traits(info.type).name);
  }
  EXPECT_EQ(types_seen, (std::set<std::string>{"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1",
                                               "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"}));
}

TEST(Gguf, ReadsMetadataWrittenByGgufPy) {
  const std::string dir = e2llm::test::golden_dir() + "/gguf";
  auto g = GgufFile::open(dir + "/dequant.gguf");
  const nlohmann::json want = read_json_file(dir + "/metadata_expected.json");
  for (auto it = want.begin(); it != want.end(); ++it) {
    SCOPED_TRACE(it.key());
    const GgufValue& v = g->value(it.key());
    EXPECT_EQ(gguf_value_type_name(v.type()), (*it)[0].get<std::string>());
    const nlohmann::json& value = (*it)[1];
    if (value.is_string()) {
      EXPECT_EQ(v.as_string(), value.get<std::string>());
    } else if (value.is_boolean()) {
      EXPECT_EQ(v.as_bool(), value.get<bool>());
    } else if (value.is_number_float()) {
      EXPECT_EQ(v.as_float(), value.get<double>());
    } else if (value.is_number()) {
      EXPECT_EQ(v.as_int(), value.get<int64_t>());
    } else if (value[0].is_string()) {
      EXPECT_EQ(v.as_strings(), value.get<std::vector<std::string>>());
    } else if (value[0].is_array()) {
      EXPECT_EQ(v.as_arrays()[0].as_ints(), value[0].get<std::vector<int64_t>>());
    } else if (value[0].is_number_float()) {
      EXPECT_EQ(v.as_floats(), value.get<std::vector<float>>());
    } else {
      EXPECT_EQ(v.as_ints(), value.get<std::vector<int64_t>>());
    }
  }
}

TEST(Gguf, DequantizeRejectsPartialBlocksAndUnsupportedTypes) {
  std::vector<uint8_t> src(64);
  std::vector<float> dst(64);
  EXPECT_THROW(dequantize_ggml(GgmlType::Q8_0, src.data(), 31, dst.data()), Error);
  EXPECT_THROW(dequantize_ggml(GgmlType::IQ2_XXS, src.data(), 256, dst.data()), Error);
  EXPECT_FALSE(ggml_can_dequantize(GgmlType::Q2_K));
  EXPECT_TRUE(ggml_can_dequantize(GgmlType::Q6_K));
}

// ---- GgufWeights --------------------------------------------------------------------

namespace {

// convert_hf_to_gguf.py's LlamaModel.permute().
torch::Tensor permute_like_convert(const torch::Tensor& w, int64_t n_head) {
  auto s = w.sizes().vec();
  return w.reshape({n_head, 2, w.size(0) / n_head / 2, w.size(1)}).transpose(1, 2).reshape(s).contiguous();
}

std::string tensor_bytes(const torch::Tensor& t) {
  torch::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
}

}  // namespace

TEST(GgufWeights, MapsLlamaNamesAndUndoesTheQKPermutation) {
  TempDir dir;
  // 4 query heads, 2 kv heads, head_dim 4, hidden 16.
  torch::Tensor q = torch::arange(16 * 16, torch::kFloat32).reshape({16, 16});
  torch::Tensor k = torch::arange(8 * 16, torch::kFloat32).reshape({8, 16}) * -1;
  torch::Tensor norm = torch::full({16}, 2.0f);
  const std::string data = concat({tensor_bytes(permute_like_convert(q, 4)),
                                   tensor_bytes(permute_like_convert(k, 2)), tensor_bytes(norm)});
  write_bytes(dir.file("l.gguf"),
              GgufBuilder()
                  .kv_string("general.architecture", "llama")
                  .kv_u32("llama.attention.head_count", 4)
                  .kv_u32("llama.attention.head_count_kv", 2)
                  .tensor("blk.0.attn_q.weight", {16, 16}, GgmlType::F32, 0)
                  .tensor("blk.0.attn_k.weight", {16, 8}, GgmlType::F32, 1024)
                  .tensor("blk.0.ffn_norm.weight", {16}, GgmlType::F32, 1536)
                  .build(data));
  auto w = open_weights(dir.file("l.gguf"));
  EXPECT_EQ(w->names(), (std::vector<std::string>{"model.layers.0.post_attention_layernorm.weight",
                                                  "model.layers.0.self_attn.k_proj.weight",
                                                  "model.layers.0.self_attn.q_proj.weight"}));
  EXPECT_TRUE(torch::equal(w->get("model.layers.0.self_attn.q_proj.weight"), q));
  EXPECT_TRUE(torch::equal(w->get("model.layers.0.self_attn.k_proj.weight", {8, 16}), k));
  EXPECT_TRUE(torch::equal(w->get("model.layers.0.post_attention_layernorm.weight"), norm));
  EXPECT_EQ(w->meta("model.layers.0.self_attn.k_proj.weight").shape, (std::vector<int64_t>{8, 16}));
  EXPECT_EQ(w->meta("model.layers.0.self_attn.k_proj.weight").dtype, "F32");
  EXPECT_EQ(w->metadata().at("llama.attention.head_count"), "4");
  EXPECT_THROW(w->get("blk.0.attn_q.weight"), Error);
}

TEST(GgufWeights, GemmaNormsLoseTheirPlusOneAndUnknownNamesStay) {
  TempDir dir;
  std::string toks;
  GgufBuilder::put(toks, static_cast<uint32_t>(GgufValueType::STRING), 4);
  GgufBuilder::put(toks, 20, 8);
  for (int i = 0; i < 20; ++i) GgufBuilder::put_str(toks, fmt::format("t{}", i));
  write_bytes(dir.file("g.gguf"),
              GgufBuilder()
                  .kv_string("general.architecture", "gemma3")
                  .kv("tokenizer.ggml.tokens", GgufValueType::ARRAY, toks)
                  .tensor("blk.2.ffn_norm.weight", {4}, GgmlType::F32, 0)
                  .tensor("blk.2.post_ffw_norm.weight", {4}, GgmlType::F32, 32)
                  .tensor("rope_freqs.weight", {4}, GgmlType::F32, 64)
                  .build(concat({floats_bytes({1.5, 1, 0, 2}), std::string(16, '\0'),
                                 floats_bytes({3, 3, 3, 3}), std::string(16, '\0'),
                                 floats_bytes({7, 7, 7, 7})})));
  auto w = GgufWeights::open(dir.file("g.gguf"));
  EXPECT_TRUE(torch::equal(w->get("model.layers.2.pre_feedforward_layernorm.weight"),
                           torch::tensor({0.5f, 0.f, -1.f, 1.f})));
  EXPECT_TRUE(torch::equal(w->get("model.layers.2.post_feedforward_layernorm.weight"),
                           torch::full({4}, 2.0f)));
  EXPECT_TRUE(torch::equal(w->get("rope_freqs.weight"), torch::full({4}, 7.0f)));
  EXPECT_EQ(w->metadata().at("tokenizer.ggml.tokens"), "[array of 20 strings]");
  const nlohmann::json c = gguf_to_hf_config(w->file());
  EXPECT_EQ(c["model_type"], "gemma3_text");
  EXPECT_EQ(c["vocab_size"], 20);           // from the token list
  EXPECT_EQ(c["tie_word_embeddings"], true);  // no output.weight
}

TEST(GgufWeights, NameMapCoversTheLlamaAndGemmaVocabulary) {
  EXPECT_EQ(gguf_to_hf_tensor_name("llama", "token_embd.weight"), "model.embed_tokens.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("llama", "output.weight"), "lm_head.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("llama", "output_norm.weight"), "model.norm.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("llama", "blk.12.attn_output.weight"),
            "model.layers.12.self_attn.o_proj.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("llama", "blk.1.attn_q.bias"), "model.layers.1.self_attn.q_proj.bias");
  EXPECT_EQ(gguf_to_hf_tensor_name("gemma3", "blk.0.post_attention_norm.weight"),
            "model.layers.0.post_attention_layernorm.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("gemma3", "blk.0.attn_k_norm.weight"),
            "model.layers.0.self_attn.k_norm.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("llama", "blk.0.unknown.weight"), "");
  EXPECT_EQ(gguf_to_hf_tensor_name("llama", "rope_freqs.weight"), "");
}
