// libFuzzer target: the examples JSONL reader (read_examples, for evaluation
// and for training) on a file holding the input's bytes. It must either read
// examples or throw e2llm::Error naming the file; an example it read must
// survive example_to_json() / example_from_json(). Anything else is a bug.
// fuzz-sources: src/data/dataset_io.cpp src/io/json_fields.cpp src/io/fs.cpp
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "e2llm/core/error.h"
#include "e2llm/data/datasets.h"

namespace {

// One scratch file per process, rewritten for every input and removed at exit.
char scratch_name[] = "/tmp/e2llm-fuzz-examples-XXXXXX";

const std::string& scratch_path() {
  static const std::string path = [] {
    const int fd = ::mkstemp(scratch_name);
    if (fd < 0) std::abort();
    ::close(fd);
    std::atexit([] { std::remove(scratch_name); });
    return std::string(scratch_name);
  }();
  return path;
}

void write_input(const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(scratch_path().c_str(), "wb");
  if (!f || std::fwrite(data, 1, size, f) != size || std::fclose(f) != 0) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  write_input(data, size);
  for (e2llm::ExampleUse use : {e2llm::ExampleUse::evaluation, e2llm::ExampleUse::training}) {
    std::vector<e2llm::Example> examples;
    try {
      examples = e2llm::read_examples(scratch_path(), use);
    } catch (const e2llm::Error& e) {
      if (std::string(e.what()).find(scratch_path()) == std::string::npos) std::abort();  // the file is not named
      continue;
    }
    if (use == e2llm::ExampleUse::training && examples.empty()) std::abort();
    for (const e2llm::Example& e : examples) {
      if (use == e2llm::ExampleUse::training && e.answers.empty()) std::abort();
      const e2llm::Example back = e2llm::example_from_json(e2llm::example_to_json(e), "round trip", use, e.id);
      if (back.id != e.id || back.context != e.context || back.prompt != e.prompt || back.answers != e.answers)
        std::abort();
    }
  }
  return 0;
}
