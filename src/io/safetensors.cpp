#include "e2llm/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <torch/torch.h>

#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"

namespace e2llm {

namespace {

struct DtypeInfo {
  const char* name;
  torch::ScalarType type;
};

const DtypeInfo kDtypes[] = {
    {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16},
    {"BF16", torch::kBFloat16}, {"I64", torch::kInt64}, {"I32", torch::kInt32},
    {"I16", torch::kInt16},    {"I8", torch::kInt8},     {"U8", torch::kUInt8},
    {"BOOL", torch::kBool},
};

const DtypeInfo* find_dtype(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

}  // namespace

std::string safetensors_dtype_name(torch::ScalarType t) {
  for (const auto& d : kDtypes)
    if (d.type == t) return d.name;
  fail("safetensors cannot store dtype {}", c10::toString(t));
}

torch::ScalarType safetensors_dtype(const std::string& name) {
  const DtypeInfo* d = find_dtype(name);
  E2LLM_CHECK(d, "unsupported safetensors dtype '{}'", name);
  return d->type;
}

struct SafeTensorsFile::Mapping {
  std::shared_ptr<MappedFile> file;
};

std::shared_ptr<SafeTensorsFile> SafeTensorsFile::open(const std::string& path) {
  std::shared_ptr<SafeTensorsFile> st(new SafeTensorsFile());
  st->path_ = path;
  st->mapping_ = std::make_shared<Mapping>(Mapping{MappedFile::open(path)});
  const MappedFile& f = *st->mapping_->file;
  st->entries_ = parse_safetensors_header(f.data(), f.size(), path, &st->metadata_);
  st->data_ = f.data() + 8 + safetensors_header_length(f.data());
  for (size_t i = 0; i < st->entries_.size(); ++i) st->index_[st->entries_[i].name] = i;
  return st;
}

SafeTensorsFile::~SafeTensorsFile() = default;

bool SafeTensorsFile::has(const std::string& name) const { return index_.count(name) > 0; }

torch::Tensor SafeTensorsFile::get(const std::string& name) const {
  auto it = index_.find(name);
  E2LLM_CHECK(it != index_.end(), "{}: no tensor named '{}'", path_, name);
  const SafeTensorEntry& e = entries_[it->second];
  const torch::ScalarType type = safetensors_dtype(e.dtype);
  // Zero-copy: the tensor keeps the mapping alive through its deleter.
  auto keep_alive = mapping_;
  void* ptr = const_cast<uint8_t*>(data_ + e.begin);
  if (e.end == e.begin) return torch::empty(e.shape, torch::TensorOptions().dtype(type));
  if (type == torch::kBool) {
    // A byte other than 0/1 is not a valid bool; reading it would be undefined.
    for (uint64_t i = e.begin; i < e.end; ++i)
      E2LLM_CHECK(data_[i] <= 1, "{}: tensor '{}' (BOOL) holds byte {} at data offset {}", path_,
                  name, data_[i], i);
  }
  return torch::from_blob(ptr, e.shape, [keep_alive](void*) {},
                          torch::TensorOptions().dtype(type));
}

std::vector<std::string> SafeTensorsFile::names() const {
  std::vector<std::string> out;
  for (const auto& e : entries_) out.push_back(e.name);
  std::sort(out.begin(), out.end());
  return out;
}

TensorMeta SafeTensorsFile::meta(const std::string& name) const {
  auto it = index_.find(name);
  E2LLM_CHECK(it != index_.end(), "{}: no tensor named '{}'", path_, name);
  const SafeTensorEntry& e = entries_[it->second];
  return {e.name, e.dtype, e.shape};
}

// ---- sharded folders -----------------------------------------------------------

std::shared_ptr<SafeTensorsModel> SafeTensorsModel::open_folder(const std::string& folder) {
  namespace fs = std::filesystem;
  auto model = std::make_shared<SafeTensorsModel>();
  const fs::path dir(folder);
  const fs::path index = dir / "model.safetensors.index.json";
  std::vector<std::string> files;
  if (fs::exists(index)) {
    nlohmann::json j = read_json_file(index.string());
    E2LLM_CHECK(j.contains("weight_map") && j["weight_map"].is_object(),
                "{}: missing object 'weight_map'", index.string());
    std::set<std::string> unique;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      E2LLM_CHECK(it->is_string(), "{}: weight_map['{}'] is not a file name", index.string(),
                  it.key());
      const std::string file = it->get<std::string>();
      E2LLM_CHECK(file.find('/') == std::string::npos && file != ".." && file != ".",
                  "{}: weight_map['{}'] names '{}', which is outside the folder", index.string(),
                  it.key(), file);
      unique.insert(file);
    }
    files.assign(unique.begin(), unique.end());
  } else if (fs::exists(dir / "model.safetensors")) {
    files.push_back("model.safetensors");
  } else {
    fail("{}: no model.safetensors or model.safetensors.index.json", folder);
  }
  for (const auto& file : files) {
    auto shard = SafeTensorsFile::open((dir / file).string());
    for (const auto& e : shard->entries()) {
      E2LLM_CHECK(!model->shard_of_.count(e.name), "{}: tensor '{}' appears in two shards", folder,
                  e.name);
      model->shard_of_[e.name] = model->shards_.size();
    }
    model->shards_.push_back(std::move(shard));
  }
  return model;
}

bool SafeTensorsModel::has(const std::string& name) const { return shard_of_.count(name) > 0; }

torch::Tensor SafeTensorsModel::get(const std::string& name) const {
  auto it = shard_of_.find(name);
  E2LLM_CHECK(it != shard_of_.end(), "model has no tensor named '{}'", name);
  return shards_[it->second]->get(name);
}

std::vector<std::string> SafeTensorsModel::names() const {
  std::vector<std::string> out;
  for (const auto& [name, shard] : shard_of_) out.push_back(name);
  return out;
}

TensorMeta SafeTensorsModel::meta(const std::string& name) const {
  auto it = shard_of_.find(name);
  E2LLM_CHECK(it != shard_of_.end(), "model has no tensor named '{}'", name);
  return shards_[it->second]->meta(name);
}

std::map<std::string, std::string> SafeTensorsModel::metadata() const {
  std::map<std::string, std::string> out;
  for (const auto& shard : shards_)
    for (const auto& [k, v] : shard->metadata()) out.emplace(k, v);
  return out;
}

// ---- writer ------------------------------------------------------------------------

void save_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> payload;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {  // std::map: sorted by name
    E2LLM_CHECK(name != "__metadata__", "{}: '__metadata__' cannot name a tensor", path);
    E2LLM_CHECK(tensor.defined(), "{}: tensor '{}' is undefined", path, name);
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    const std::string dtype = safetensors_dtype_name(t.scalar_type());
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", dtype}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    payload.push_back(t);
  }
  std::string text = header.dump();
  // Pad the header with spaces so the data section starts 8-byte aligned.
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));
  AtomicFileWriter out(path);
  out.write(len, 8);
  out.write(text.data(), text.size());
  for (const auto& t : payload) out.write(t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
  out.commit();
}

}  // namespace e2llm
