// LongBench (THUDM/LongBench data/<task>.jsonl): {"input", "context",
// "answers", "length", "dataset", "language", "all_classes", "_id"}.
#include "data/converters.h"
#include "io/json_fields.h"

namespace e2llm::converters {

Errors convert_longbench(const ConvertOptions& options, const ExampleSink& sink) {
  return convert_jsonl(options.input, sink, [&](const nlohmann::json& j, size_t line) {
    Example e;
    e.id = j.contains("_id") ? json_fields::id_field(j, "_id") : record_id("longbench", options.input, line);
    e.context = json_fields::string_field(j, "context");
    e.prompt = json_fields::string_field(j, "input");
    e.answers = json_fields::string_array_field(j, "answers");
    for (const char* key : {"dataset", "length", "language", "all_classes"})
      if (j.contains(key)) e.meta[key] = j[key];
    return std::vector<Example>{std::move(e)};
  });
}

}  // namespace e2llm::converters
