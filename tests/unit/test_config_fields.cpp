// The checked JSON field readers (src/io/json_fields.h) and the config readers
// built on them: every refusal names the file, the field and the value, and
// no value outside a field's range is cast (issue 18: intermediate_size
// 6488888888888888888888 reached a float -> int64_t cast, undefined behaviour).
#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

#include "e2llm/core/error.h"
#include "e2llm/decoder/decoder_config.h"
#include "e2llm/e2llm/e2llm_config.h"
#include "e2llm/encoder/encoder_config.h"
#include "e2llm/io/fs.h"
#include "e2llm/io/model_files.h"
#include "e2llm/train/train_options.h"
#include "io/json_field_table.h"
#include "io/json_fields.h"
#include "test_util.h"

using namespace e2llm;
using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

template <typename Read>
std::string error_of(Read read) {
  try {
    read();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an e2llm::Error";
  return "";
}

// No nlohmann exception text ("[json.exception.type_error.302] ...") in a message.
const auto kNoNlohmannText = Not(HasSubstr("json.exception"));

// The message for field `key` = `value` read as T from cfg.json.
template <typename T>
std::string field_error(const json& value) {
  return error_of([&] { json_fields::required<T>(json{{"key", value}}, "key", "dir/cfg.json"); });
}

}  // namespace

TEST(JsonFields, IntegersOutsideTheTypeAreRefusedNotCast) {
  EXPECT_THAT(field_error<int64_t>(json::parse("6488888888888888888888")),
              AllOf(HasSubstr("dir/cfg.json"), HasSubstr("field 'key'"), HasSubstr("6.488888888888889e+21"),
                    HasSubstr("too large (at most 9223372036854775807)")));
  EXPECT_THAT(field_error<int64_t>(1e21), AllOf(HasSubstr("'key'"), HasSubstr("1e+21"), HasSubstr("too large")));
  // 2^63: an unsigned JSON integer one past int64_t, and the same as a float.
  EXPECT_THAT(field_error<int64_t>(json::parse("9223372036854775808")),
              AllOf(HasSubstr("9223372036854775808"), HasSubstr("too large")));
  EXPECT_THAT(field_error<int64_t>(9223372036854775808.0), HasSubstr("too large"));
  EXPECT_THAT(field_error<int64_t>(-1e19), HasSubstr("too small (at least -9223372036854775808)"));
  EXPECT_THAT(field_error<int>(2147483648LL), HasSubstr("too large (at most 2147483647)"));
  EXPECT_THAT(field_error<uint64_t>(-1), HasSubstr("too small (at least 0)"));
  EXPECT_THAT(field_error<uint64_t>(1.8446744073709552e19), HasSubstr("too large"));
  EXPECT_EQ(json_fields::read<int64_t>(json(-9223372036854775807LL - 1), "x"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(json_fields::read<uint64_t>(json(18446744073709551615ULL), "x"), 18446744073709551615ULL);
}

TEST(JsonFields, IntegralFloatsAreIntegersOthersAreNot) {
  EXPECT_EQ(json_fields::read<int64_t>(json(3.0), "x"), 3);
  EXPECT_EQ(json_fields::read<int64_t>(json(-2.0), "x"), -2);
  EXPECT_THAT(field_error<int64_t>(2.5), AllOf(HasSubstr("field 'key' is 2.5, not an integer")));
  EXPECT_THAT(field_error<int>(1e-300), HasSubstr("not an integer"));
  EXPECT_THAT(field_error<int64_t>(json(std::nan(""))), HasSubstr("not an integer"));
}

TEST(JsonFields, FloatsMustBeFinite) {
  EXPECT_EQ(json_fields::read<double>(json(1e308), "x"), 1e308);
  EXPECT_EQ(json_fields::read<double>(json(7), "x"), 7.0);
  EXPECT_THAT(field_error<double>(json(std::nan(""))),
              AllOf(HasSubstr("dir/cfg.json: field 'key' is nan, not a finite number")));
  EXPECT_THAT(field_error<double>(json(-INFINITY)), HasSubstr("is -inf, not a finite number"));
  EXPECT_THAT(field_error<float>(json(1e300)), HasSubstr("too large for a 32-bit float"));
  EXPECT_THAT(field_error<int64_t>(json(1e308)), HasSubstr("too large"));
}

TEST(JsonFields, WrongTypesSayWhatWasExpected) {
  EXPECT_THAT(field_error<std::string>(3),
              AllOf(HasSubstr("dir/cfg.json: field 'key' must be a string, but has the wrong type: number 3"),
                    kNoNlohmannText));
  EXPECT_THAT(field_error<int64_t>("big"), HasSubstr("must be an integer, but has the wrong type: string \"big\""));
  EXPECT_THAT(field_error<int64_t>(true), HasSubstr("wrong type: boolean true"));
  EXPECT_THAT(field_error<bool>(1), HasSubstr("must be true or false"));
  EXPECT_THAT(field_error<double>(json::array()), HasSubstr("must be a number, but has the wrong type: array []"));
  EXPECT_THAT(field_error<std::vector<std::string>>(json{"a", 2}), HasSubstr("field 'key[1]' must be a string"));
  // Long values are shortened, never cut inside a UTF-8 character.
  const std::string long_text(300, 'x');
  const std::string message = field_error<int64_t>(long_text);
  EXPECT_THAT(message, HasSubstr("..."));
  EXPECT_LT(message.size(), 200u);
}

TEST(JsonFields, AbsentAndNullAreTheSameAndPathsNest) {
  const json j = json::parse(R"({"a": null, "rope_scaling": {"factor": "x"}})");
  EXPECT_EQ(json_fields::value_or<int64_t>(j, "a", 7, "f.json"), 7);
  EXPECT_EQ(json_fields::value_or<int64_t>(j, "b", 8, "f.json"), 8);
  EXPECT_FALSE(json_fields::optional<double>(j, "a", "f.json"));
  EXPECT_THAT(error_of([&] { json_fields::required<int64_t>(j, "a", "f.json"); }),
              HasSubstr("f.json: missing field 'a'"));
  const json_fields::Where scaling("f.json", "rope_scaling");
  EXPECT_THAT(error_of([&] { json_fields::required<double>(j["rope_scaling"], "factor", scaling); }),
              HasSubstr("f.json: field 'rope_scaling.factor' must be a number"));
  EXPECT_THAT(error_of([&] { json_fields::value_or<int64_t>(json::array(), "a", 0, "f.json"); }),
              HasSubstr("f.json: the top level must be a JSON object"));
}

namespace {

struct Options {
  int64_t steps = 1;
  std::string name = "n";
  bool flag = false;
};
constexpr auto kOptionFields = [](Options& o, auto&& visit) {
  visit("steps", o.steps);
  visit("name", o.name);
  visit("flag", o.flag);
};

}  // namespace

TEST(JsonFieldTable, ReadsWritesAndRefusesUnknownKeys) {
  Options o;
  json_fields::read_fields(json{{"steps", 5.0}, {"flag", true}, {"name", nullptr}}, o, kOptionFields,
                           json_fields::Where("o.json", "opts"));
  EXPECT_EQ(o.steps, 5);
  EXPECT_TRUE(o.flag);
  EXPECT_EQ(o.name, "n");  // null = left out
  EXPECT_EQ(json_fields::write_fields(o, kOptionFields), json({{"steps", 5}, {"name", "n"}, {"flag", true}}));
  EXPECT_THAT(error_of([&] {
                json_fields::read_fields(json{{"stpes", 1}}, o, kOptionFields, json_fields::Where("o.json", "opts"));
              }),
              HasSubstr("o.json: field 'opts.stpes' is not a known option (known: steps, name, flag)"));
}

TEST(ConfigReaders, EncoderConfigRefusesIssue18Value) {
  const json j = json::parse(R"({"model_type": "bert", "vocab_size": 10, "hidden_size": 8,
      "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 6488888888888888888888})");
  EXPECT_THAT(error_of([&] { EncoderConfig::from_json(j, "enc/config.json"); }),
              AllOf(HasSubstr("enc/config.json"), HasSubstr("'intermediate_size'"), HasSubstr("6.488888888888889e+21"),
                    HasSubstr("too large")));
  json bad = j;
  bad["intermediate_size"] = 16.5;
  EXPECT_THAT(error_of([&] { EncoderConfig::from_json(bad, "enc/config.json"); }), HasSubstr("not an integer"));
  bad["intermediate_size"] = 16;
  bad["rope_scaling"] = {{"factor", "2"}};
  bad["model_type"] = "new";
  EXPECT_THAT(error_of([&] { EncoderConfig::from_json(bad, "enc/config.json"); }),
              HasSubstr("field 'rope_scaling.factor' must be a number"));
}

TEST(ConfigReaders, DecoderConfigNamesNestedFields) {
  const json ok = {{"model_type", "llama"}, {"vocab_size", 10},        {"hidden_size", 8},
                   {"intermediate_size", 16}, {"num_hidden_layers", 1}, {"num_attention_heads", 2}};
  auto error_with = [&](const char* key, const json& v) {
    json j = ok;
    j[key] = v;
    return error_of([&] { DecoderConfig::from_json(j, "dec/config.json"); });
  };
  EXPECT_THAT(error_with("intermediate_size", json::parse("6488888888888888888888")),
              AllOf(HasSubstr("dec/config.json: field 'intermediate_size'"), HasSubstr("too large")));
  EXPECT_THAT(error_with("num_hidden_layers", 1e12), HasSubstr("a decoder has 1 to 4096 layers"));
  EXPECT_THAT(error_with("num_hidden_layers", -3), HasSubstr("'num_hidden_layers' is -3"));
  EXPECT_THAT(error_with("rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", "1"}}),
              HasSubstr("dec/config.json: field 'rope_scaling.low_freq_factor' must be a number"));
  EXPECT_THAT(error_with("eos_token_id", {2, 2.5}), HasSubstr("field 'eos_token_id[1]' is 2.5, not an integer"));
  EXPECT_THAT(error_with("rope_theta", json(NAN)), HasSubstr("'rope_theta' is nan, not a finite number"));
  json gemma = {{"model_type", "gemma3"}, {"text_config", ok}};
  gemma["text_config"]["model_type"] = "gemma3_text";
  gemma["text_config"]["sliding_window"] = "wide";
  EXPECT_THAT(error_of([&] { DecoderConfig::from_json(gemma, "g/config.json"); }),
              HasSubstr("g/config.json: field 'text_config.sliding_window' must be an integer"));
}

TEST(ConfigReaders, GenerationConfigRefusesOutOfRangeIds) {
  EXPECT_THAT(error_of([] { parse_generation_config(json{{"bos_token_id", 1e21}}, "g.json"); }),
              AllOf(HasSubstr("g.json: field 'bos_token_id' is 1e+21, too large")));
  EXPECT_THAT(error_of([] { parse_generation_config(json{{"top_p", json(NAN)}}, "g.json"); }),
              HasSubstr("'top_p' is nan, not a finite number"));
}

TEST(ConfigReaders, TrainingConfigWrongTypesNameFileAndField) {
  EXPECT_THAT(error_of([] { TrainOptions::from_json({{"max_steps", "many"}}, "run/train.json"); }),
              AllOf(HasSubstr("run/train.json: field 'training.max_steps' must be an integer"),
                    HasSubstr("\"many\""), kNoNlohmannText));
  EXPECT_THAT(error_of([] { TrainOptions::from_json({{"max_steps", 9223372036854775808.0}}, "t.json"); }),
              HasSubstr("'training.max_steps' is 9.223372036854776e+18, too large"));
  EXPECT_THAT(error_of([] { TrainOptions::from_json({{"keep_checkpoints", 2147483648LL}}, "t.json"); }),
              HasSubstr("'training.keep_checkpoints' is 2147483648, too large (at most 2147483647)"));
  EXPECT_THAT(error_of([] { TrainOptions::from_json({{"grad_accum", 1.5}}, "t.json"); }),
              HasSubstr("'training.grad_accum' is 1.5, not an integer"));
  EXPECT_THAT(error_of([] { TrainOptions::from_json({{"lr", "fast"}}, "t.json"); }),
              HasSubstr("'training.lr' must be a number"));
  EXPECT_THAT(error_of([] { TrainOptions::from_json({{"learning_rate", 1e-3}}, "t.json"); }),
              HasSubstr("field 'training.learning_rate' is not a known option"));
  EXPECT_THAT(error_of([] { TrainOptions::from_json(json::array(), "t.json"); }),
              HasSubstr("t.json: field 'training' must be a JSON object"));
  TrainOptions o;
  o.seed = 18446744073709551615ULL;
  EXPECT_EQ(TrainOptions::from_json(o.to_json()).seed, o.seed);
}

TEST(ConfigReaders, ModelConfigWrongTypesNameFileAndField) {
  const json ok = {{"encoder", "e"}, {"decoder", "d"}};
  auto error_with = [&](const char* key, const json& v) {
    json j = ok;
    j[key] = v;
    return error_of([&] { E2llmConfig::from_json(j, "run/train.json"); });
  };
  EXPECT_THAT(error_with("chunk_size", json::parse("6488888888888888888888")),
              AllOf(HasSubstr("run/train.json: field 'model.chunk_size'"), HasSubstr("too large")));
  EXPECT_THAT(error_with("markers", "yes"), HasSubstr("'model.markers' must be true or false"));
  EXPECT_THAT(error_with("decoder_lora_targets", "q_proj"), HasSubstr("'model.decoder_lora_targets' must be a list"));
  EXPECT_THAT(error_with("pooling", 3), HasSubstr("'model.pooling' must be a string"));
  EXPECT_THAT(error_with("pooling", "max"), AllOf(HasSubstr("'model.pooling'"), HasSubstr("unknown pooling 'max'")));
  EXPECT_THAT(error_with("chunk_size", -1), HasSubstr("run/train.json: model.chunk_size must be >= 0"));
  EXPECT_THAT(error_with("repetition_penalty", 0), HasSubstr("model.repetition_penalty must be a finite number > 0"));
  EXPECT_THAT(error_with("no_repeat_ngram_size", -2), HasSubstr("model.no_repeat_ngram_size must be >= 0"));
  json answer_defaults = ok;
  answer_defaults["repetition_penalty"] = 1.15;
  answer_defaults["no_repeat_ngram_size"] = 4;
  const E2llmConfig read = E2llmConfig::from_json(answer_defaults);
  EXPECT_EQ(read.repetition_penalty, 1.15);
  EXPECT_EQ(read.no_repeat_ngram_size, 4);
  EXPECT_EQ(read.model_json().at("no_repeat_ngram_size"), 4) << "a model's answer defaults are part of what it is";
  EXPECT_EQ(E2llmConfig::from_json(json{{"encoder", "e"}, {"decoder", "d"}, {"pooling", "pma"}}).pooling.mode,
            PoolingMode::kAttention);
}

TEST(ConfigReaders, TrainCommandNamesConfigFileAndField) {
  test::TempDir dir;
  const std::string config = dir.file("train.json");
  write_file_atomic(config, R"({"model": {"encoder": "e", "decoder": "d"},
                                "training": {"max_steps": "many", "output_dir": "out"},
                                "data": {"train": "train.jsonl"}})");
  auto r = test::run_cli("train --config " + config + " --quiet");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, AllOf(HasSubstr("e2llm: error: " + config + ": field 'training.max_steps' must be an integer"),
                              kNoNlohmannText));
  write_file_atomic(config, R"({"model": {"encoder": 3, "decoder": "d"}, "data": {"train": "t.jsonl"}})");
  r = test::run_cli("train --config " + config + " --quiet");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, AllOf(HasSubstr(config + ": field 'model.encoder' must be a string"), kNoNlohmannText));
  write_file_atomic(config, R"({"model": {"encoder": "e", "decoder": "d"}, "training": {"output_dir": "o"},
                                "data": {"train": ["t.jsonl"]}})");
  r = test::run_cli("train --config " + config + " --quiet");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, AllOf(HasSubstr(config + ": field 'data.train' must be a string"), kNoNlohmannText));
}

// A misspelt key at the top level or in "data" is refused, not ignored (those
// of "model" and "training" go through their field tables, tested above).
TEST(ConfigReaders, TrainCommandRefusesUnknownTopLevelAndDataKeys) {
  test::TempDir dir;
  const std::string config = dir.file("train.json");
  write_file_atomic(config, R"({"model": {"encoder": "e", "decoder": "d"}, "trainig": {"output_dir": "o"},
                                "data": {"train": "t.jsonl"}})");
  auto r = test::run_cli("train --config " + config + " --quiet");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr(config + ": field 'trainig' is not a known option (known: model, training, data)"));
  write_file_atomic(config, R"({"model": {"encoder": "e", "decoder": "d"}, "training": {"output_dir": "o"},
                                "data": {"train": "t.jsonl", "eval_exmaples": 8}})");
  r = test::run_cli("train --config " + config + " --quiet");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr(config + ": field 'data.eval_exmaples' is not a known option (known: train, eval, "
                                           "eval_examples, eval_max_new_tokens)"));
}
