// The absolute paths of this build, in one object (see test_util.h).
#include "test_util.h"

namespace e2llm::test {

std::string source_dir() { return E2LLM_TEST_SOURCE_DIR; }
std::string test_data_dir() { return E2LLM_TEST_SOURCE_DIR "/tests/data"; }
std::string golden_dir() { return E2LLM_TEST_SOURCE_DIR "/tests/golden"; }
std::string cli_path() { return E2LLM_CLI_PATH; }
std::string python_path() { return E2LLM_PYTHON; }

}  // namespace e2llm::test
