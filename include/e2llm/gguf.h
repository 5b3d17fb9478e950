// GGUF (llama.cpp's model format): memory-mapped reader with full header
// validation, dequantization of the common ggml block types to float32, and a
// Weights view that hands out tensors under Hugging Face names and shapes.
//
// File layout (all little-endian): "GGUF", u32 version (2 or 3), u64 tensor
// count, u64 key/value count, the key/values (string key, u32 value type,
// value), the tensor infos (string name, u32 n_dims, u64 dims[n_dims] with
// dims[0] the innermost, u32 ggml type, u64 offset into the data section),
// padding to `general.alignment` (default 32), then the data section.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>
#include <nlohmann/json_fwd.hpp>

#include "e2llm/weights.h"

namespace e2llm {

class MappedFile;

enum class GgufValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};
std::string_view gguf_value_type_name(GgufValueType type);

// One metadata value. Scalars, strings and arrays (of any type, arrays of
// arrays too). Accessors throw e2llm::Error saying what the value really is.
class GgufValue {
 public:
  GgufValueType type() const { return type_; }
  GgufValueType element_type() const { return element_type_; }  // arrays only
  bool is_array() const { return type_ == GgufValueType::ARRAY; }
  bool is_integer() const;  // any of the eight integer types
  bool is_float() const;    // F32 or F64
  size_t size() const { return count_; }  // array length (1 for scalars)

  int64_t as_int() const;    // any integer type; a U64 above INT64_MAX throws
  double as_float() const;   // F32/F64, or an integer
  bool as_bool() const;
  const std::string& as_string() const;

  const std::vector<std::string>& as_strings() const;  // array of strings
  std::vector<int64_t> as_ints() const;                 // array of integers
  std::vector<float> as_floats() const;                 // array of floats or integers
  std::vector<bool> as_bools() const;                   // array of bools
  const std::vector<GgufValue>& as_arrays() const;      // array of arrays

  // Short human-readable rendering; long arrays are summarised
  // ("[array of 49152 strings]").
  std::string to_text() const;

 private:
  friend struct GgufParser;
  std::string describe() const;  // "a string", "an array of 3 u32", ...
  GgufValueType type_ = GgufValueType::U8;
  GgufValueType element_type_ = GgufValueType::U8;
  size_t count_ = 1;
  uint64_t bits_ = 0;                  // scalar numbers and bools, as stored (zero-extended)
  std::string string_;                 // STRING
  std::vector<std::string> strings_;   // ARRAY of STRING
  std::vector<uint8_t> raw_;           // ARRAY of numbers/bools: the little-endian bytes
  std::vector<GgufValue> arrays_;      // ARRAY of ARRAY
};

// ggml tensor types (the ids are the file's).
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21,
  IQ2_S = 22, IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28,
  IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};

struct GgmlTypeTraits {
  GgmlType type;
  const char* name;     // "Q4_K"
  uint32_t block_size;  // elements per block
  uint32_t type_size;   // bytes per block
};
// nullptr for an id this reader does not know.
const GgmlTypeTraits* ggml_type_traits(uint32_t id);
const GgmlTypeTraits& ggml_type_traits(GgmlType type);
// Whether dequantize_ggml() handles `type`: F32, F16, BF16, Q8_0, Q4_0, Q4_1,
// Q5_0, Q5_1, Q4_K, Q5_K, Q6_K.
bool ggml_can_dequantize(GgmlType type);

// Decodes `n_elements` values (a whole number of blocks) of `type` from `src`
// into `dst`, bit-exactly as ggml / gguf-py do. Parallel over blocks.
void dequantize_ggml(GgmlType type, const uint8_t* src, uint64_t n_elements, float* dst);

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // GGUF order: dims[0] is the innermost (fastest) axis
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;         // relative to the data section
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  std::vector<int64_t> shape() const;  // PyTorch order: dims reversed
};

// Everything the header says, validated against the buffer's size.
struct GgufHeader {
  uint32_t version = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata;  // file order
  std::vector<GgufTensorInfo> tensors;                       // file order
  uint64_t alignment = 32;
  uint64_t data_offset = 0;  // where the data section starts in the file
};

// Parses and validates a whole GGUF image. `what` names it in error messages
// (which also give the byte offset and what is wrong). Exposed for the fuzzer.
GgufHeader parse_gguf(const uint8_t* data, size_t size, const std::string& what);

class GgufFile {
 public:
  static std::shared_ptr<GgufFile> open(const std::string& path);

  const std::string& path() const { return path_; }
  uint32_t version() const { return header_.version; }
  uint64_t alignment() const { return header_.alignment; }
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return header_.metadata; }
  const std::vector<GgufTensorInfo>& tensors() const { return header_.tensors; }

  bool has(const std::string& key) const { return key_index_.count(key) > 0; }
  const GgufValue& value(const std::string& key) const;  // throws naming the key
  const std::string& get_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  const std::vector<std::string>& get_string_array(const std::string& key) const;
  std::vector<int64_t> get_int_array(const std::string& key) const;
  std::vector<float> get_float_array(const std::string& key) const;
  std::string architecture() const;  // general.architecture

  const GgufTensorInfo* find_tensor(const std::string& name) const;  // nullptr if absent
  const uint8_t* tensor_data(const GgufTensorInfo& info) const;
  // The tensor in GGUF's own layout (shape = info.shape()): float32 for
  // quantized types, F32/F16/BF16 zero-copy in their dtype. Throws naming the
  // tensor when absent or of a type that cannot be dequantized.
  torch::Tensor load_tensor(const std::string& name) const;

 private:
  GgufFile() = default;
  template <typename T, typename Get>
  T get_as(const std::string& key, Get get) const;
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  GgufHeader header_;
  std::unordered_map<std::string, size_t> key_index_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

// The Hugging Face name transformers gives a llama.cpp tensor name for
// `arch` ("llama", "gemma3", ...), e.g. "blk.3.attn_q.weight" ->
// "model.layers.3.self_attn.q_proj.weight"; "" when there is no mapping.
std::string gguf_to_hf_tensor_name(const std::string& arch, const std::string& gguf_name);

// The config.json transformers derives from the GGUF metadata
// (load_gguf_checkpoint()["config"]) for llama and gemma3, plus
// bos/eos/pad token ids from tokenizer.ggml.*. Throws for other architectures.
nlohmann::json gguf_to_hf_config(const GgufFile& file);

// A GGUF file seen as Hugging Face weights: names mapped as transformers maps
// them, shapes in PyTorch order, and the same value transforms transformers'
// GGUF loader applies (Llama q/k row permutation undone; Gemma norm weights
// stored as 1 + w turned back into w). Tensors without a mapping keep their
// GGUF name. Quantized tensors come back as float32.
class GgufWeights : public Weights {
 public:
  static std::shared_ptr<GgufWeights> open(const std::string& path);
  explicit GgufWeights(std::shared_ptr<const GgufFile> file);

  bool has(const std::string& name) const override;
  torch::Tensor get(const std::string& name) const override;
  using Weights::get;
  std::vector<std::string> names() const override;
  TensorMeta meta(const std::string& name) const override;
  // Every key/value as text; long arrays summarised.
  std::map<std::string, std::string> metadata() const override;
  const GgufFile& file() const { return *file_; }

 private:
  const GgufTensorInfo& info(const std::string& hf_name) const;
  std::shared_ptr<const GgufFile> file_;
  std::string arch_;
  std::map<std::string, std::string> hf_to_gguf_;  // sorted: names() is ordered
};

}  // namespace e2llm
