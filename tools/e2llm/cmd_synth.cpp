// e2llm synth: write a seeded synthetic task (passkey, needle, kv) as evaluation JSONL.
#include <algorithm>
#include <cstdio>

#include "command.h"
#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "e2llm/data/synthetic.h"

namespace e2llm::cli {
namespace {

struct SynthOptions {
  std::string task, output, haystack_file;
  GridOptions grid;
  KvOptions kv;
  size_t count = 100;
  bool random_facts = false, random_phrases = false;
};

std::vector<Example> generate(const SynthOptions& o) {
  const std::string haystack = o.haystack_file.empty() ? "" : read_text_file(o.haystack_file);
  if (o.task == "passkey") return passkey_grid(o.grid, haystack);
  if (o.task == "needle") {
    NeedleOptions base;
    base.haystack = haystack;
    using Kind = NeedleOptions::RandomFact;
    base.random_fact = o.random_facts ? Kind::number : o.random_phrases ? Kind::phrase : Kind::none;
    return needle_grid(o.grid, base);
  }
  return kv_dataset(o.kv, o.count);  // the third of the tasks --task accepts
}

// An option of another task would be silently ignored: refused instead.
void check_task_options(const CLI::App& cmd, const std::string& task) {
  static const std::vector<std::pair<const char*, std::vector<std::string>>> kTasksOf = {
      {"--lengths", {"passkey", "needle"}}, {"--depths", {"passkey", "needle"}},
      {"--samples", {"passkey", "needle"}}, {"--haystack", {"passkey", "needle"}},
      {"--random-facts", {"needle"}},       {"--random-phrases", {"needle"}},
      {"--facts", {"kv"}},                  {"--words", {"kv"}},
      {"--count", {"kv"}}};
  for (const auto& [option, tasks] : kTasksOf)
    E2LLM_CHECK(cmd.count(option) == 0 || std::find(tasks.begin(), tasks.end(), task) != tasks.end(),
                "{} is an option of --task {}, not of --task {}", option, fmt::format("{}", fmt::join(tasks, "/")),
                task);
}

void run_synth(SynthOptions o) {
  o.kv.seed = o.grid.seed;
  std::string out;
  auto examples = generate(o);
  for (const auto& e : examples) out += example_to_json(e).dump() + "\n";
  write_file_atomic(o.output, out);
  std::fprintf(stderr, "e2llm: wrote %zu %s examples to %s\n", examples.size(), o.task.c_str(), o.output.c_str());
}

CommandRegistrar registrar("synth", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("synth", "Generate a seeded synthetic task as JSONL {id, context, prompt, answers, meta}");
  auto o = std::make_shared<SynthOptions>();
  cmd->add_option("--task", o->task, "passkey, needle or kv")
      ->required()
      ->check(CLI::IsMember({"passkey", "needle", "kv"}));
  cmd->add_option("--output", o->output, "Output JSONL file")->required();
  cmd->add_option("--seed", o->grid.seed, "Random seed")->capture_default_str();
  cmd->add_option("--lengths", o->grid.lengths, "passkey/needle: context lengths in words")
      ->delimiter(',')
      ->check(CLI::Range(1, 100'000'000))
      ->capture_default_str();
  cmd->add_option("--depths", o->grid.depths, "passkey/needle: insertion depths in [0, 1]")
      ->delimiter(',')
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--samples", o->grid.samples, "passkey/needle: examples per (length, depth)")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  cmd->add_option("--haystack", o->haystack_file,
                  "passkey/needle: text file the filler is cut from, at a seeded offset (default: built-in "
                  "sentences)");
  auto* random_facts = cmd->add_flag("--random-facts", o->random_facts,
                "needle: every example plants its own seeded fact (\"One of the special magic numbers for <word> "
                "is: <7 digits>.\", RULER's wording) instead of the San Francisco needle; for training data");
  cmd->add_flag("--random-phrases", o->random_phrases,
                "needle: like --random-facts, but the fact's answer is a phrase of words (\"The doctor told Marta to "
                "<verb> the <word> and <verb> the <word> <when>.\", five sentence frames, the words from the "
                "haystack), none of it the San Francisco needle's")
      ->excludes(random_facts);
  cmd->add_option("--facts", o->kv.facts, "kv: key/value lines per document")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  cmd->add_option("--words", o->kv.words, "kv: document length in words")
      ->check(CLI::Range(1, 100'000'000))
      ->capture_default_str();
  cmd->add_option("--count", o->count, "kv: number of examples")->check(CLI::Range(1, 100'000'000))->capture_default_str();
  cmd->callback([o, cmd] {
    check_task_options(*cmd, o->task);
    run_synth(*o);
  });
});

}  // namespace
}  // namespace e2llm::cli
