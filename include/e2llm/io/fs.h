// Small file helpers shared by every reader and writer.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <nlohmann/json_fwd.hpp>

namespace e2llm {

// Copy-on-write memory map of a whole file: tensors may point into it and an
// in-place write changes only this process's copy, never the file. Throws e2llm::Error naming the path.
class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

std::string read_text_file(const std::string& path);
// read_text_file, or all of standard input when `path` is "-".
std::string read_text_input(const std::string& path);
nlohmann::json read_json_file(const std::string& path);  // error names file, line, column
bool file_exists(const std::string& path);
bool is_directory(const std::string& path);

// Writes through `path + ".tmp-XXXXXX"` in the same folder, fsyncs the file,
// renames it over `path` and fsyncs the folder: a crash leaves either the old
// file or the new one, never a torn one.
void write_file_atomic(const std::string& path, std::string_view bytes);

// For writers that stream their output: call write() any number of times,
// then commit(); destroying an uncommitted writer removes the temp file.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  void write(const void* data, size_t size);
  void commit();

 private:
  std::string path_, tmp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace e2llm
