// Base models by name: scripts/fetch_models.sh puts the pretrained models
// into a cache outside the repository under fixed names
// ("all-MiniLM-L6-v2", "SmolLM2-135M-Instruct.Q4_1.gguf", ...). A config
// or checkpoint that names its base model that way works on any machine that
// ran the script; one that gives a path works where that path exists.
#pragma once
#include <string>

namespace e2llm {

// $E2LLM_MODEL_CACHE, else ~/.cache/e2llm/models.
std::string model_cache_dir();

// A model name is a single path component: no '/', not "." or "..".
// ("./model" is the way to say "the folder here".)
bool is_model_name(const std::string& path_or_name);

// A model name becomes its path in the cache; a path is returned as given.
// A name that is not in the cache is an error that says how to fetch it.
std::string resolve_model_path(const std::string& path_or_name);

// The inverse, for writing portable files: the name of `path` when it is a
// model directly inside the cache, else `path` unchanged.
std::string model_name_if_cached(const std::string& path);

}  // namespace e2llm
