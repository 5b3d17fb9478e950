// safetensors: memory-mapped reader (zero-copy into tensors where the dtype
// allows) with full header validation, sharded checkpoints, and an atomic writer.
// Format: u64 little-endian header length N, N bytes of JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}},
// then the data section; offsets are relative to the data section.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include "e2llm/io/safetensors_header.h"
#include "e2llm/io/weights.h"

namespace e2llm {

class SafeTensorsFile : public Weights {
 public:
  static std::shared_ptr<SafeTensorsFile> open(const std::string& path);
  ~SafeTensorsFile() override;

  bool has(const std::string& name) const override;
  torch::Tensor get(const std::string& name) const override;
  using Weights::get;
  std::vector<std::string> names() const override;
  TensorMeta meta(const std::string& name) const override;
  std::map<std::string, std::string> metadata() const override { return metadata_; }
  const std::string& path() const { return path_; }
  const std::vector<SafeTensorEntry>& entries() const { return entries_; }

 private:
  SafeTensorsFile() = default;
  struct Mapping;
  std::string path_;
  std::shared_ptr<Mapping> mapping_;  // shared with every tensor handed out
  const uint8_t* data_ = nullptr;     // start of the data section
  std::vector<SafeTensorEntry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// A folder's model.safetensors, or the shards named by model.safetensors.index.json.
class SafeTensorsModel : public Weights {
 public:
  static std::shared_ptr<SafeTensorsModel> open_folder(const std::string& folder);
  bool has(const std::string& name) const override;
  torch::Tensor get(const std::string& name) const override;
  using Weights::get;
  std::vector<std::string> names() const override;
  TensorMeta meta(const std::string& name) const override;
  std::map<std::string, std::string> metadata() const override;

 private:
  std::vector<std::shared_ptr<SafeTensorsFile>> shards_;
  std::map<std::string, size_t> shard_of_;
};

// Writes tensors (any device, contiguous or not) atomically: temp file in the
// same folder, fsync, rename. Names are written in sorted order as the
// reference implementation does.
void save_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

std::string safetensors_dtype_name(torch::ScalarType t);
torch::ScalarType safetensors_dtype(const std::string& name);  // throws for unsupported

}  // namespace e2llm
