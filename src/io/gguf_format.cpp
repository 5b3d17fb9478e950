// GGUF header parsing and validation (torch-free: the fuzzer builds it alone).
// Every count and length read from the file is bounded by the bytes left
// before anything is allocated, so a hostile header cannot make us allocate
// more than a small multiple of the file's own size.
#include "e2llm/io/gguf_format.h"

#include <algorithm>
#include <limits>
#include <unordered_map>

#include "e2llm/core/error.h"

namespace e2llm {

namespace {

constexpr uint32_t QK_K = 256;

constexpr GgmlTypeTraits kTraits[] = {
    {GgmlType::F32, "F32", 1, 4},
    {GgmlType::F16, "F16", 1, 2},
    {GgmlType::Q4_0, "Q4_0", 32, 2 + 16},
    {GgmlType::Q4_1, "Q4_1", 32, 2 + 2 + 16},
    {GgmlType::Q5_0, "Q5_0", 32, 2 + 4 + 16},
    {GgmlType::Q5_1, "Q5_1", 32, 2 + 2 + 4 + 16},
    {GgmlType::Q8_0, "Q8_0", 32, 2 + 32},
    {GgmlType::Q8_1, "Q8_1", 32, 4 + 4 + 32},
    {GgmlType::Q2_K, "Q2_K", 256, 2 + 2 + QK_K / 16 + QK_K / 4},
    {GgmlType::Q3_K, "Q3_K", 256, 2 + QK_K / 4 + QK_K / 8 + 12},
    {GgmlType::Q4_K, "Q4_K", 256, 2 + 2 + QK_K / 2 + 12},
    {GgmlType::Q5_K, "Q5_K", 256, 2 + 2 + QK_K / 2 + QK_K / 8 + 12},
    {GgmlType::Q6_K, "Q6_K", 256, 2 + QK_K / 2 + QK_K / 4 + QK_K / 16},
    {GgmlType::Q8_K, "Q8_K", 256, 4 + QK_K + QK_K / 8},
    {GgmlType::IQ2_XXS, "IQ2_XXS", 256, 2 + QK_K / 4},
    {GgmlType::IQ2_XS, "IQ2_XS", 256, 2 + QK_K / 4 + QK_K / 32},
    {GgmlType::IQ3_XXS, "IQ3_XXS", 256, 2 + QK_K / 4 + QK_K / 8},
    {GgmlType::IQ1_S, "IQ1_S", 256, 2 + QK_K / 8 + QK_K / 16},
    {GgmlType::IQ4_NL, "IQ4_NL", 32, 2 + 16},
    {GgmlType::IQ3_S, "IQ3_S", 256, 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4},
    {GgmlType::IQ2_S, "IQ2_S", 256, 2 + QK_K / 4 + QK_K / 16},
    {GgmlType::IQ4_XS, "IQ4_XS", 256, 2 + 2 + QK_K / 2 + QK_K / 64},
    {GgmlType::I8, "I8", 1, 1},
    {GgmlType::I16, "I16", 1, 2},
    {GgmlType::I32, "I32", 1, 4},
    {GgmlType::I64, "I64", 1, 8},
    {GgmlType::F64, "F64", 1, 8},
    {GgmlType::IQ1_M, "IQ1_M", 256, QK_K / 8 + QK_K / 16 + QK_K / 32},
    {GgmlType::BF16, "BF16", 1, 2},
    {GgmlType::TQ1_0, "TQ1_0", 256, 2 + 4 * 13},
    {GgmlType::TQ2_0, "TQ2_0", 256, 2 + 64},
    {GgmlType::MXFP4, "MXFP4", 32, 1 + 16},
};

}  // namespace

const GgmlTypeTraits* ggml_type_traits(uint32_t id) {
  for (const auto& t : kTraits)
    if (static_cast<uint32_t>(t.type) == id) return &t;
  return nullptr;
}

const GgmlTypeTraits& ggml_type_traits(GgmlType type) {
  const GgmlTypeTraits* t = ggml_type_traits(static_cast<uint32_t>(type));
  E2LLM_CHECK(t, "unknown ggml type {}", static_cast<uint32_t>(type));
  return *t;
}

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims = 4;          // GGML_MAX_DIMS
constexpr int kMaxArrayNesting = 8;       // no real file nests arrays at all

// Smallest encoding of one value of each type: bounds counts by bytes left.
uint64_t min_encoded_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::U8: case GgufValueType::I8: case GgufValueType::BOOL: return 1;
    case GgufValueType::U16: case GgufValueType::I16: return 2;
    case GgufValueType::U32: case GgufValueType::I32: case GgufValueType::F32: return 4;
    case GgufValueType::U64: case GgufValueType::I64: case GgufValueType::F64: return 8;
    case GgufValueType::STRING: return 8;   // u64 length
    case GgufValueType::ARRAY: return 12;   // u32 type + u64 count
  }
  return 1;
}

bool is_known_value_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::F64); }

bool is_numeric_or_bool(GgufValueType t) {
  return t != GgufValueType::STRING && t != GgufValueType::ARRAY;
}

}  // namespace

// Reads little-endian fields from a bounded buffer; every failure names the
// buffer, the byte offset and the field being read.
struct GgufParser {
  const uint8_t* data;
  size_t size;
  const std::string& what;
  size_t pos = 0;

  size_t remaining() const { return size - pos; }

  [[noreturn]] void truncated(size_t need, std::string_view field) const {
    fail("{}: truncated at byte {}: {} needs {} bytes but only {} remain", what, pos, field, need,
         remaining());
  }

  void need(size_t n, std::string_view field) const {
    if (n > remaining()) truncated(n, field);
  }

  uint64_t read_uint(size_t n, std::string_view field) {
    need(n, field);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(data[pos + i]) << (8 * i);
    pos += n;
    return v;
  }
  uint32_t u32(std::string_view field) { return static_cast<uint32_t>(read_uint(4, field)); }
  uint64_t u64(std::string_view field) { return read_uint(8, field); }

  std::string string(std::string_view field) {
    const size_t at = pos;
    const uint64_t len = u64(field);
    if (len > remaining()) {
      pos = at;
      fail("{}: at byte {}: {} claims {} bytes but only {} remain in the file", what, at, field,
           len, remaining() - 8);
    }
    std::string s(reinterpret_cast<const char*>(data + pos), static_cast<size_t>(len));
    pos += len;
    return s;
  }

  // A count of items at least `min_item_bytes` each, checked against the bytes left.
  uint64_t count(uint64_t min_item_bytes, std::string_view field) {
    const size_t at = pos;
    const uint64_t n = u64(field);
    E2LLM_CHECK(n <= remaining() / min_item_bytes,
                "{}: at byte {}: {} is {}, which cannot fit in the {} bytes left", what, at, field,
                n, remaining());
    return n;
  }

  GgufValueType value_type(std::string_view field) {
    const size_t at = pos;
    const uint32_t t = u32(field);
    E2LLM_CHECK(is_known_value_type(t), "{}: at byte {}: unknown {} {}", what, at, field, t);
    return static_cast<GgufValueType>(t);
  }

  GgufValue value(GgufValueType type, const std::string& key, int depth) {
    GgufValue v;
    v.type_ = type;
    if (type == GgufValueType::STRING) {
      v.string_ = string(fmt::format("string value of '{}'", key));
    } else if (type == GgufValueType::ARRAY) {
      array(v, key, depth);
    } else {
      const size_t at = pos;
      v.bits_ = read_uint(min_encoded_size(type), fmt::format("value of '{}'", key));
      if (type == GgufValueType::BOOL)
        E2LLM_CHECK(v.bits_ <= 1, "{}: at byte {}: bool value of '{}' is {}, not 0 or 1", what,
                    at, key, v.bits_);
    }
    return v;
  }

  void array(GgufValue& v, const std::string& key, int depth) {
    E2LLM_CHECK(depth < kMaxArrayNesting, "{}: at byte {}: arrays nested more than {} deep in '{}'",
                what, pos, kMaxArrayNesting, key);
    v.element_type_ = value_type(fmt::format("array element type of '{}'", key));
    const uint64_t n = count(min_encoded_size(v.element_type_),
                             fmt::format("array length of '{}'", key));
    v.count_ = static_cast<size_t>(n);
    if (is_numeric_or_bool(v.element_type_)) {
      const size_t bytes = v.count_ * min_encoded_size(v.element_type_);
      v.raw_.assign(data + pos, data + pos + bytes);
      if (v.element_type_ == GgufValueType::BOOL)
        for (size_t i = 0; i < bytes; ++i)
          E2LLM_CHECK(v.raw_[i] <= 1, "{}: at byte {}: bool element {} of '{}' is {}", what,
                      pos + i, i, key, v.raw_[i]);
      pos += bytes;
    } else if (v.element_type_ == GgufValueType::STRING) {
      v.strings_.reserve(v.count_);
      const std::string field = fmt::format("string element of '{}'", key);
      for (size_t i = 0; i < v.count_; ++i) v.strings_.push_back(string(field));
    } else {
      v.arrays_.reserve(v.count_);
      for (size_t i = 0; i < v.count_; ++i)
        v.arrays_.push_back(value(GgufValueType::ARRAY, key, depth + 1));
    }
  }

  GgufTensorInfo tensor_info(size_t index) {
    GgufTensorInfo t;
    t.name = string(fmt::format("name of tensor #{}", index));
    const size_t dims_at = pos;
    const uint32_t n_dims = u32(fmt::format("n_dims of tensor '{}'", t.name));
    E2LLM_CHECK(n_dims <= kMaxDims, "{}: at byte {}: tensor '{}' has {} dimensions (at most {})",
                what, dims_at, t.name, n_dims, kMaxDims);
    t.n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const size_t at = pos;
      const uint64_t dim = u64(fmt::format("dimension {} of tensor '{}'", d, t.name));
      const bool fits = dim <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) &&
                        !__builtin_mul_overflow(t.n_elements, dim, &t.n_elements) &&
                        t.n_elements <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
      E2LLM_CHECK(fits, "{}: at byte {}: tensor '{}' dimensions overflow (dimension {} is {})",
                  what, at, t.name, d, dim);
      t.dims.push_back(dim);
    }
    const size_t type_at = pos;
    const uint32_t type_id = u32(fmt::format("type of tensor '{}'", t.name));
    const GgmlTypeTraits* traits = ggml_type_traits(type_id);
    E2LLM_CHECK(traits, "{}: at byte {}: tensor '{}' has unknown ggml type {}", what, type_at,
                t.name, type_id);
    t.type = traits->type;
    const uint64_t inner = t.dims.empty() ? 1 : t.dims[0];
    E2LLM_CHECK(inner % traits->block_size == 0,
                "{}: tensor '{}' ({}) has innermost dimension {}, not a multiple of the block "
                "size {}", what, t.name, traits->name, inner, traits->block_size);
    E2LLM_CHECK(!__builtin_mul_overflow(t.n_elements / traits->block_size, traits->type_size,
                                        &t.n_bytes),
                "{}: tensor '{}' byte size overflows", what, t.name);
    t.offset = u64(fmt::format("data offset of tensor '{}'", t.name));
    return t;
  }
};

namespace {

uint64_t align_up(uint64_t x, uint64_t alignment) {
  return (x + alignment - 1) / alignment * alignment;
}

uint64_t read_alignment(const GgufHeader& h, const std::string& what) {
  for (const auto& [key, v] : h.metadata) {
    if (key != "general.alignment") continue;
    E2LLM_CHECK(v.type() == GgufValueType::U32, "{}: general.alignment is {}, expected a u32",
                what, gguf_value_type_name(v.type()));
    const uint64_t a = static_cast<uint64_t>(v.as_int());
    E2LLM_CHECK(a != 0 && (a & (a - 1)) == 0, "{}: general.alignment is {}, not a power of two",
                what, a);
    return a;
  }
  return kDefaultAlignment;
}

void check_tensor_placement(const GgufHeader& h, size_t file_size, const std::string& what) {
  const uint64_t data_size = h.data_offset <= file_size ? file_size - h.data_offset : 0;
  for (const auto& t : h.tensors) {
    E2LLM_CHECK(t.offset % h.alignment == 0,
                "{}: tensor '{}' data offset {} is not a multiple of the alignment {}", what,
                t.name, t.offset, h.alignment);
    E2LLM_CHECK(t.offset <= data_size && t.n_bytes <= data_size - t.offset,
                "{}: tensor '{}' data ({} bytes at data offset {}) runs past the end of the data "
                "section ({} bytes from file byte {}): truncated?", what, t.name, t.n_bytes,
                t.offset, data_size, h.data_offset);
  }
  std::vector<const GgufTensorInfo*> by_offset;
  for (const auto& t : h.tensors)
    if (t.n_bytes > 0) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const auto* prev = by_offset[i - 1];
    E2LLM_CHECK(by_offset[i]->offset >= prev->offset + prev->n_bytes,
                "{}: tensors '{}' and '{}' overlap in the data section", what, prev->name,
                by_offset[i]->name);
  }
}

}  // namespace

GgufHeader parse_gguf(const uint8_t* data, size_t size, const std::string& what) {
  GgufParser p{data, size, what};
  GgufHeader h;
  const uint32_t magic = p.u32("magic");
  E2LLM_CHECK(magic == kMagic, "{}: not a GGUF file (byte 0 holds {:#010x}, expected \"GGUF\")",
              what, magic);
  h.version = p.u32("version");
  E2LLM_CHECK(h.version != 1,
              "{}: GGUF version 1 is not supported (it predates 64-bit counts; re-convert the "
              "model with a current llama.cpp)", what);
  E2LLM_CHECK((h.version & 0xffff) != 0, "{}: big-endian GGUF (version field {:#010x}) is not "
              "supported", what, h.version);
  E2LLM_CHECK(h.version == 2 || h.version == 3, "{}: unsupported GGUF version {} (expected 2 or 3)",
              what, h.version);
  const uint64_t n_tensors = p.count(24, "tensor count");  // name len, n_dims, type, offset
  const uint64_t n_kv = p.count(13, "metadata key/value count");  // key len, type, 1 byte

  std::unordered_map<std::string, size_t> seen_keys;
  h.metadata.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    const size_t at = p.pos;
    std::string key = p.string(fmt::format("key of metadata entry #{}", i));
    E2LLM_CHECK(seen_keys.emplace(key, i).second, "{}: at byte {}: metadata key '{}' appears twice",
                what, at, key);
    const GgufValueType type = p.value_type(fmt::format("value type of '{}'", key));
    GgufValue v = p.value(type, key, 0);
    h.metadata.emplace_back(std::move(key), std::move(v));
  }
  h.alignment = read_alignment(h, what);

  std::unordered_map<std::string, size_t> seen_tensors;
  h.tensors.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    const size_t at = p.pos;
    GgufTensorInfo t = p.tensor_info(i);
    E2LLM_CHECK(seen_tensors.emplace(t.name, i).second,
                "{}: at byte {}: tensor name '{}' appears twice", what, at, t.name);
    h.tensors.push_back(std::move(t));
  }
  h.data_offset = align_up(p.pos, h.alignment);
  E2LLM_CHECK(h.tensors.empty() || h.data_offset <= size,
              "{}: truncated: the data section should start at byte {} but the file has {} bytes",
              what, h.data_offset, size);
  check_tensor_placement(h, size, what);
  return h;
}

std::vector<int64_t> GgufTensorInfo::shape() const {
  return std::vector<int64_t>(dims.rbegin(), dims.rend());
}

}  // namespace e2llm
