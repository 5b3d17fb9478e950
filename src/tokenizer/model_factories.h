// Constructors of the model types, shared between models.cpp and their files.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "tokenizer/models.h"

namespace e2llm::text {

Vocab read_vocab_object(const nlohmann::json& vocab, const std::string& where);
std::unique_ptr<Model> make_wordpiece_model(const nlohmann::json& j, const std::string& where);
std::unique_ptr<Model> make_bpe_model_from_json(const nlohmann::json& j, const std::string& where);
std::unique_ptr<Model> make_unigram_model(const nlohmann::json& j, const std::string& where);

}  // namespace e2llm::text
