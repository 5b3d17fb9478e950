// GgufFile: a memory-mapped GGUF file, its metadata by key and its tensors.
#include "e2llm/io/gguf.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"

namespace e2llm {

// ---- GgufFile -------------------------------------------------------------------------

std::shared_ptr<GgufFile> GgufFile::open(const std::string& path) {
  std::shared_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  f->file_ = MappedFile::open(path);
  f->header_ = parse_gguf(f->file_->data(), f->file_->size(), path);
  for (size_t i = 0; i < f->header_.metadata.size(); ++i)
    f->key_index_.emplace(f->header_.metadata[i].first, i);
  for (size_t i = 0; i < f->header_.tensors.size(); ++i)
    f->tensor_index_.emplace(f->header_.tensors[i].name, i);
  return f;
}

const GgufValue& GgufFile::value(const std::string& key) const {
  auto it = key_index_.find(key);
  E2LLM_CHECK(it != key_index_.end(), "{}: no metadata key '{}'", path_, key);
  return header_.metadata[it->second].second;
}

template <typename T, typename Get>
T GgufFile::get_as(const std::string& key, Get get) const {
  const GgufValue& v = value(key);
  try {
    return get(v);
  } catch (const Error& e) {
    fail("{}: metadata '{}': {}", path_, key, e.what());
  }
}

const std::string& GgufFile::get_string(const std::string& key) const {
  return *get_as<const std::string*>(key, [](const GgufValue& v) { return &v.as_string(); });
}
int64_t GgufFile::get_int(const std::string& key) const {
  return get_as<int64_t>(key, [](const GgufValue& v) { return v.as_int(); });
}
double GgufFile::get_float(const std::string& key) const {
  return get_as<double>(key, [](const GgufValue& v) { return v.as_float(); });
}
bool GgufFile::get_bool(const std::string& key) const {
  return get_as<bool>(key, [](const GgufValue& v) { return v.as_bool(); });
}
const std::vector<std::string>& GgufFile::get_string_array(const std::string& key) const {
  return *get_as<const std::vector<std::string>*>(key,
                                                  [](const GgufValue& v) { return &v.as_strings(); });
}
std::vector<int64_t> GgufFile::get_int_array(const std::string& key) const {
  return get_as<std::vector<int64_t>>(key, [](const GgufValue& v) { return v.as_ints(); });
}
std::vector<float> GgufFile::get_float_array(const std::string& key) const {
  return get_as<std::vector<float>>(key, [](const GgufValue& v) { return v.as_floats(); });
}

std::string GgufFile::architecture() const { return get_string("general.architecture"); }

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &header_.tensors[it->second];
}

const uint8_t* GgufFile::tensor_data(const GgufTensorInfo& info) const {
  return file_->data() + header_.data_offset + info.offset;
}

torch::Tensor GgufFile::load_tensor(const std::string& name) const {
  const GgufTensorInfo* info = find_tensor(name);
  E2LLM_CHECK(info, "{}: no tensor named '{}'", path_, name);
  const std::vector<int64_t> shape = info->shape();
  const uint8_t* src = tensor_data(*info);
  auto zero_copy = [&](torch::ScalarType dtype) {
    auto keep_alive = file_;  // the mapping lives as long as the tensor
    return torch::from_blob(const_cast<uint8_t*>(src), shape, [keep_alive](void*) {},
                            torch::TensorOptions().dtype(dtype));
  };
  if (info->n_elements == 0) return torch::empty(shape, torch::kFloat32);
  switch (info->type) {
    case GgmlType::F32: return zero_copy(torch::kFloat32);
    case GgmlType::F16: return zero_copy(torch::kFloat16);
    case GgmlType::BF16: return zero_copy(torch::kBFloat16);
    default: break;
  }
  E2LLM_CHECK(ggml_can_dequantize(info->type), "{}: tensor '{}' has type {}, which e2llm cannot "
              "dequantize", path_, name, ggml_type_traits(info->type).name);
  torch::Tensor out = torch::empty(shape, torch::kFloat32);
  dequantize_ggml(info->type, src, info->n_elements, out.data_ptr<float>());
  return out;
}

nlohmann::json gguf_to_hf_config(const GgufFile& file) { return gguf_to_hf_config(file.header(), file.path()); }

}  // namespace e2llm
