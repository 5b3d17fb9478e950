// convert_dataset(): dispatch by format, plus what the converters share.
#include <filesystem>

#include "e2llm/core/error.h"
#include "data/converters.h"
#include "io/json_fields.h"

namespace e2llm {
namespace converters {

bool is_leval_record(const nlohmann::json& j) {
  return j.is_object() && j.contains("input") && j.contains("instructions") && j.contains("outputs");
}

std::vector<Example> leval_examples(const nlohmann::json& j, const std::string& id_prefix) {
  std::string context = json_fields::string_field(j, "input");
  auto instructions = json_fields::string_array_field(j, "instructions");
  auto outputs = json_fields::string_array_field(j, "outputs");
  E2LLM_CHECK(instructions.size() == outputs.size(), "{} instructions but {} outputs", instructions.size(),
              outputs.size());
  const std::string source = json_fields::value_or<std::string>(j, "source", "");
  std::vector<Example> out;
  for (size_t i = 0; i < instructions.size(); ++i) {
    Example e{fmt::format("{}-{}", id_prefix, i), context, instructions[i], {outputs[i]},
              {{"layout", "leval"}, {"source", source}}};
    out.push_back(std::move(e));
  }
  return out;
}

std::string record_id(std::string_view format, const std::string& path, size_t line) {
  return fmt::format("{}-{}-{}", format, std::filesystem::path(path).stem().string(), line);
}

Errors convert_jsonl(const std::string& path, const ExampleSink& sink,
                     const std::function<std::vector<Example>(const nlohmann::json&, size_t)>& convert_line) {
  return for_each_jsonl_line(path, [&](const nlohmann::json& j, size_t line) {
    for (const auto& e : convert_line(j, line)) sink(e);
  });
}

}  // namespace converters

std::vector<std::string> convert_dataset(const ConvertOptions& options, const ExampleSink& sink) {
  E2LLM_CHECK(std::filesystem::exists(options.input), "{}: no such file or folder", options.input);
  switch (options.format) {
    case DatasetFormat::qmsum: return converters::convert_qmsum(options, sink);
    case DatasetFormat::govreport: return converters::convert_govreport(options, sink);
    case DatasetFormat::quality: return converters::convert_quality(options, sink);
    case DatasetFormat::narrativeqa: return converters::convert_narrativeqa(options, sink);
    case DatasetFormat::triviaqa: return converters::convert_triviaqa(options, sink);
    case DatasetFormat::longbench: return converters::convert_longbench(options, sink);
  }
  fail("unknown dataset format");
}

}  // namespace e2llm
