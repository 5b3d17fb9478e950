// QMSum (Yale-LILY/QMSum data/ALL/jsonl): one meeting per line; one example per
// general or specific query, the transcript as "Speaker: content" lines.
// Also reads L-Eval's meeting_summ.jsonl.
#include "data/converters.h"
#include "io/json_fields.h"

namespace e2llm::converters {
namespace {

std::string transcript(const nlohmann::json& meeting) {
  std::string out;
  for (const auto& turn : json_fields::array_field(meeting, "meeting_transcripts")) {
    if (!out.empty()) out.push_back('\n');
    out += json_fields::string_field(turn, "speaker");
    out += ": ";
    out += json_fields::string_field(turn, "content");
  }
  return out;
}

void add_queries(const nlohmann::json& meeting, const char* list, const char* type, const std::string& context,
                 const std::string& id_prefix, std::vector<Example>& out) {
  const auto& queries = json_fields::array_field(meeting, list);
  for (size_t i = 0; i < queries.size(); ++i) {
    const auto& q = queries[i];
    Example e{fmt::format("{}-{}{}", id_prefix, type[0], i), context, json_fields::string_field(q, "query"),
              {json_fields::string_field(q, "answer")}, {{"query_type", type}}};
    if (q.contains("relevant_text_span")) e.meta["relevant_text_span"] = q["relevant_text_span"];
    out.push_back(std::move(e));
  }
}

std::vector<Example> meeting_examples(const nlohmann::json& meeting, const std::string& id_prefix) {
  if (is_leval_record(meeting)) return leval_examples(meeting, id_prefix);
  std::string context = transcript(meeting);
  std::vector<Example> out;
  add_queries(meeting, "general_query_list", "general", context, id_prefix, out);
  add_queries(meeting, "specific_query_list", "specific", context, id_prefix, out);
  return out;
}

}  // namespace

Errors convert_qmsum(const ConvertOptions& options, const ExampleSink& sink) {
  return convert_jsonl(options.input, sink, [&](const nlohmann::json& j, size_t line) {
    return meeting_examples(j, record_id("qmsum", options.input, line));
  });
}

}  // namespace e2llm::converters
