// One converter per dataset layout (src/eval/convert_<name>.cpp); the public
// entry point is convert_dataset() in e2llm/datasets.h.
#pragma once
#include <string>
#include <vector>

#include "e2llm/data/datasets.h"
#include "e2llm/core/error.h"

namespace e2llm::converters {

using Errors = std::vector<std::string>;

Errors convert_qmsum(const ConvertOptions& options, const ExampleSink& sink);
Errors convert_govreport(const ConvertOptions& options, const ExampleSink& sink);
Errors convert_quality(const ConvertOptions& options, const ExampleSink& sink);
Errors convert_narrativeqa(const ConvertOptions& options, const ExampleSink& sink);
Errors convert_triviaqa(const ConvertOptions& options, const ExampleSink& sink);
Errors convert_longbench(const ConvertOptions& options, const ExampleSink& sink);

// L-Eval's layout, shared by its QMSum, GovReport and QuALITY files:
// {"input", "instructions": [...], "outputs": [...], "source"}; one example per instruction.
bool is_leval_record(const nlohmann::json& j);
std::vector<Example> leval_examples(const nlohmann::json& j, const std::string& id_prefix);

// "<format>-<file stem>-<line>": unique within one converted file.
std::string record_id(std::string_view format, const std::string& path, size_t line);

// Converts every line of a JSONL file with `convert_line`; a record's
// examples are emitted only when the whole record converted.
Errors convert_jsonl(const std::string& path, const ExampleSink& sink,
                     const std::function<std::vector<Example>(const nlohmann::json&, size_t)>& convert_line);

}  // namespace e2llm::converters
