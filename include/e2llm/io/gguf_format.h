// GGUF container format without LibTorch: metadata values, ggml tensor
// types, tensor infos and the validating header parser (what the fuzzer
// exercises). include/e2llm/io/gguf.h adds the mapped file, dequantization and
// the Hugging Face weights view.
//
// File layout (all little-endian): "GGUF", u32 version (2 or 3), u64 tensor
// count, u64 key/value count, the key/values (string key, u32 value type,
// value), the tensor infos (string name, u32 n_dims, u64 dims[n_dims] with
// dims[0] the innermost, u32 ggml type, u64 offset into the data section),
// padding to `general.alignment` (default 32), then the data section.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace e2llm {

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

}  // namespace e2llm
