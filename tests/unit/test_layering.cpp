// The folders under src/ and include/e2llm/ are the stages of the data path,
// and no stage may include one that builds on it (models never know training,
// file formats never know models, eval never reaches into train). This test
// reads every #include of the library and fails on an edge not listed here;
// a new edge is a design decision, made by editing this table.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

#include "test_util.h"

namespace e2llm {
namespace {

const std::map<std::string, std::set<std::string>>& allowed_includes() {
  static const std::map<std::string, std::set<std::string>> allowed = {
      {"core", {}},
      {"io", {"core"}},
      {"tokenizer", {"core", "io"}},
      {"chunking", {"core"}},
      {"nn", {"core", "io"}},
      {"compress", {"core", "io", "nn"}},
      {"encoder", {"core", "io", "nn", "compress"}},
      {"decoder", {"core", "io", "nn"}},
      {"generate", {"core", "io", "tokenizer", "decoder"}},
      {"e2llm", {"core", "io", "tokenizer", "chunking", "nn", "compress", "encoder", "decoder", "generate"}},
      {"data", {"core", "io"}},
      // Training reports held-out answer quality with eval's metrics.
      {"train", {"core", "io", "nn", "data", "e2llm", "decoder", "chunking", "eval"}},
      {"eval", {"core", "io", "tokenizer", "chunking", "decoder", "generate", "e2llm", "data"}},
      // The HTTP server over the assembled model (its own library, e2llm_serve).
      {"serve", {"core", "io", "decoder", "generate", "e2llm"}},
  };
  return allowed;
}

struct Edge {
  std::string file, included;
};

// Includes of the library's own headers, as the stage they belong to:
// "e2llm/<stage>/x.h" (public) and "<stage>/x.h" (private, under src/).
std::vector<Edge> stage_includes(const std::filesystem::path& root, const std::string& stage) {
  static const std::regex include(R"re(#include\s+"(?:e2llm/)?([a-z0-9_]+)/[^"]+")re");
  std::vector<Edge> out;
  if (!std::filesystem::exists(root / stage)) return out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root / stage)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path());
    std::string line;
    std::smatch m;
    while (std::getline(in, line))
      if (std::regex_search(line, m, include) && allowed_includes().count(m[1].str()))
        out.push_back({entry.path().string(), m[1].str()});
  }
  return out;
}

TEST(Layering, EveryFolderIsAStageWithKnownDependencies) {
  const std::filesystem::path src = test::source_dir() + "/src", include = test::source_dir() + "/include/e2llm";
  for (const auto& root : {src, include}) {
    for (const auto& entry : std::filesystem::directory_iterator(root)) {
      if (!entry.is_directory()) continue;
      EXPECT_TRUE(allowed_includes().count(entry.path().filename().string()))
          << entry.path() << " is not a stage listed in this test";
    }
  }
}

TEST(Layering, NoStageIncludesOneThatBuildsOnIt) {
  const std::filesystem::path src = test::source_dir() + "/src", include = test::source_dir() + "/include/e2llm";
  size_t edges = 0;
  for (const auto& [stage, may_use] : allowed_includes()) {
    for (const auto& root : {src, include}) {
      for (const Edge& e : stage_includes(root, stage)) {
        ++edges;
        if (e.included == stage) continue;
        EXPECT_TRUE(may_use.count(e.included)) << e.file << " (" << stage << ") includes " << e.included;
      }
    }
  }
  EXPECT_GT(edges, 100u) << "the include scan found almost nothing: has the layout moved?";
}

// A public header includes the parts of LibTorch it uses (torch/types.h for
// tensors, torch/nn/module.h for modules), not all of torch/torch.h (data
// loaders, optimizers, serialization, the JIT) for everyone who includes it.
// That each header still compiles on its own is checked by the build
// (e2llm_header_check in tests/CMakeLists.txt).
TEST(Layering, PublicHeadersDoNotIncludeAllOfTorch) {
  const std::filesystem::path include = test::source_dir() + "/include/e2llm";
  size_t headers = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(include)) {
    if (!entry.is_regular_file()) continue;
    ++headers;
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line))
      EXPECT_EQ(line.find("#include <torch/torch.h>"), std::string::npos) << entry.path();
  }
  EXPECT_GT(headers, 40u);
}

}  // namespace
}  // namespace e2llm
