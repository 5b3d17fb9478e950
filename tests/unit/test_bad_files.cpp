// Corrupt model files given to `e2llm inspect`: each must end in exit code 1
// and one line "e2llm: error: <reason naming the file>", never a signal.
#include <gmock/gmock.h>
#include <torch/torch.h>

#include <fstream>
#include <sstream>

#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "e2llm/io/safetensors.h"
#include "test_util.h"

using e2llm::test::run_cli;
using e2llm::test::TempDir;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint64_t header_length(const std::string& bytes) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  return n;
}

void set_header_length(std::string& bytes, uint64_t n) {
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
}

std::string valid_safetensors() {
  TempDir dir;
  e2llm::save_safetensors(dir.file("ok.safetensors"),
                          {{"layer.weight", torch::ones({4, 8})}, {"layer.bias", torch::ones({8})}});
  return read_bytes(dir.file("ok.safetensors"));
}

// Runs inspect on `bytes` written to a file and checks the one-line failure.
void expect_clean_failure(const std::string& bytes, const std::string& reason,
                          const std::string& file_name = "bad.safetensors") {
  TempDir dir;
  e2llm::write_file_atomic(dir.file(file_name), bytes);
  auto r = run_cli("inspect " + dir.file(file_name));
  EXPECT_LT(r.exit_code, 128) << "killed by a signal: " << r.output;
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, StartsWith("e2llm: error: "));
  EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << "not one line: " << r.output;
  EXPECT_THAT(r.output, HasSubstr(dir.file(file_name)));
  EXPECT_THAT(r.output, HasSubstr(reason));
}

// A minimal valid GGUF v3: one metadata string, one 8-element F32 tensor.
std::string valid_gguf() {
  std::string out;
  auto u32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i))); };
  auto u64 = [&](uint64_t v) { for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i))); };
  auto str = [&](const std::string& v) { u64(v.size()); out += v; };
  out += "GGUF";
  u32(3);  // version
  u64(1);  // tensors
  u64(1);  // key/values
  str("general.architecture");
  u32(8);  // STRING
  str("llama");
  str("w");
  u32(1);  // n_dims
  u64(8);
  u32(0);  // F32
  u64(0);  // offset
  out.resize((out.size() + 31) / 32 * 32, '\0');  // data section aligned to 32
  out += std::string(8 * 4, '\0');
  return out;
}

}  // namespace

TEST(BadGguf, ValidFileInspects) {
  TempDir dir;
  e2llm::write_file_atomic(dir.file("ok.gguf"), valid_gguf());
  auto r = run_cli("inspect " + dir.file("ok.gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("architecture llama"));
  EXPECT_THAT(r.output, HasSubstr("parameters   8\n"));
}

TEST(BadGguf, Truncated) {
  const std::string ok = valid_gguf();
  expect_clean_failure(ok.substr(0, ok.size() - 4), "truncated?", "bad.gguf");
  expect_clean_failure(ok.substr(0, 60), "truncated at byte 56", "bad.gguf");  // in a length
  expect_clean_failure(ok.substr(0, 30), "cannot fit", "bad.gguf");
}

TEST(BadGguf, BitFlips) {
  const std::string ok = valid_gguf();
  std::string magic = ok;
  magic[0] ^= 0x01;
  expect_clean_failure(magic, "not a GGUF file", "bad.gguf");
  std::string version = ok;
  version[4] ^= 0x08;  // 3 -> 11
  expect_clean_failure(version, "unsupported GGUF version", "bad.gguf");
  std::string type = ok;
  type[ok.find("llama") + 5 + 8 + 1 + 4 + 8] ^= 0x40;  // the tensor's ggml type: 0 -> 64
  expect_clean_failure(type, "unknown ggml type", "bad.gguf");
}

TEST(BadGguf, InflatedCountsAndLengths) {
  const std::string ok = valid_gguf();
  std::string tensors = ok;
  tensors[8 + 5] = '\x7f';  // tensor count ~ 2^47
  expect_clean_failure(tensors, "cannot fit", "bad.gguf");
  std::string key_length = ok;
  key_length[24 + 4] = '\x7f';  // first key's length ~ 2^39
  expect_clean_failure(key_length, "claims", "bad.gguf");
}

TEST(BadSafeTensors, TruncatedDataSection) {
  const std::string ok = valid_safetensors();
  expect_clean_failure(ok.substr(0, ok.size() - 5), "truncated?");
}

TEST(BadSafeTensors, TruncatedInsideTheHeader) {
  const std::string ok = valid_safetensors();
  expect_clean_failure(ok.substr(0, 8 + header_length(ok) / 2), "runs past the end of the file");
  expect_clean_failure(ok.substr(0, 5), "too short");
}

TEST(BadSafeTensors, BitFlipsInTheHeader) {
  const std::string ok = valid_safetensors();
  std::string structural = ok;
  structural[8] ^= 0x01;  // '{' -> 'z'
  expect_clean_failure(structural, "not valid JSON");
  std::string dtype = ok;
  dtype[dtype.find("F32")] ^= 0x01;  // "F32" -> "G32"
  expect_clean_failure(dtype, "unsupported dtype");
  std::string offsets = ok;
  offsets[offsets.find("[0,") + 1] ^= 0x04;  // data_offsets [0, ...] -> [4, ...]
  expect_clean_failure(offsets, "data_offsets span");
}

TEST(BadSafeTensors, InflatedHeaderLength) {
  const std::string ok = valid_safetensors();
  std::string huge = ok;
  set_header_length(huge, 1ull << 40);
  expect_clean_failure(huge, "exceeds");
  std::string past_end = ok;
  set_header_length(past_end, ok.size());
  expect_clean_failure(past_end, "runs past the end of the file");
  std::string into_data = ok;
  set_header_length(into_data, header_length(ok) + 8);  // swallows 8 data bytes
  expect_clean_failure(into_data, "runs past the data section");
}

TEST(BadSafeTensors, EveryHeaderBitFlipIsRejectedOrStaysInBounds) {
  // In-process sweep (the CLI cases above cover the exit path): a flip may
  // leave a valid header (e.g. a renamed tensor), but never one that reads
  // outside the file or crashes.
  const std::string ok = valid_safetensors();
  const size_t header_end = 8 + header_length(ok);
  int rejected = 0;
  for (size_t i = 0; i < header_end; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bytes = ok;
      bytes[i] ^= static_cast<char>(1 << bit);
      std::map<std::string, std::string> meta;
      try {
        auto entries = e2llm::parse_safetensors_header(
            reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "flip", &meta);
        const uint64_t data_size = bytes.size() - 8 - header_length(bytes);
        for (const auto& e : entries) EXPECT_LE(e.end, data_size) << "byte " << i << " bit " << bit;
      } catch (const e2llm::Error&) {
        ++rejected;
      }
    }
  }
  EXPECT_GT(rejected, static_cast<int>(header_end));  // most flips break the header
}

TEST(BadModelPaths, MissingUnrecognisedAndEmpty) {
  TempDir dir;
  auto missing = run_cli("inspect " + dir.file("nope.safetensors"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("no such file"));
  expect_clean_failure("just some text, not a model", "unrecognised", "notes.txt");
  auto empty = run_cli("inspect " + dir.path());
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_THAT(empty.output, HasSubstr("no model.safetensors"));
}
