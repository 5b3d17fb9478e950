// libe2llm_spm: the only code that links SentencePiece (see spm_shim.h).
#include "spm_shim.h"

#include <sentencepiece_processor.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

void set_error(char* err, size_t err_len, const std::string& message) {
  if (!err || err_len == 0) return;
  std::strncpy(err, message.c_str(), err_len - 1);
  err[err_len - 1] = '\0';
}

sentencepiece::SentencePieceProcessor* processor(void* model) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(model);
}

}  // namespace

extern "C" {

int e2llm_spm_abi_version(void) { return E2LLM_SPM_ABI_VERSION; }

void* e2llm_spm_load(const char* path, char* err, size_t err_len) {
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  auto status = sp->Load(path);
  if (!status.ok()) {
    set_error(err, err_len, status.ToString());
    return nullptr;
  }
  return sp.release();
}

void e2llm_spm_free(void* model) { delete processor(model); }

int32_t e2llm_spm_vocab_size(void* model) { return processor(model)->GetPieceSize(); }

int e2llm_spm_encode(void* model, const char* text, size_t len, e2llm_spm_piece_fn piece_fn, void* user, char* err,
                     size_t err_len) {
  try {
    auto spt = processor(model)->EncodeAsImmutableProto(std::string_view(text, len));
    for (const auto& p : spt.pieces())
      piece_fn(user, static_cast<int32_t>(p.id()), p.piece().data(), p.piece().size(), p.begin(), p.end());
    return 0;
  } catch (const std::exception& e) {
    set_error(err, err_len, e.what());
    return 1;
  }
}

int e2llm_spm_decode(void* model, const int32_t* ids, size_t n, e2llm_spm_text_fn text_fn, void* user, char* err,
                     size_t err_len) {
  std::vector<int> v(ids, ids + n);
  std::string out;
  auto status = processor(model)->Decode(v, &out);
  if (!status.ok()) {
    set_error(err, err_len, status.ToString());
    return 1;
  }
  text_fn(user, out.data(), out.size());
  return 0;
}

int32_t e2llm_spm_piece_to_id(void* model, const char* piece, size_t len) {
  auto* sp = processor(model);
  std::string p(piece, len);
  int id = sp->PieceToId(p);
  // PieceToId answers unk_id for unknown pieces; tell them apart.
  return sp->IdToPiece(id) == p ? id : -1;
}

const char* e2llm_spm_id_to_piece(void* model, int32_t id, size_t* len) {
  auto* sp = processor(model);
  if (id < 0 || id >= sp->GetPieceSize()) return nullptr;
  const std::string& p = sp->IdToPiece(id);
  *len = p.size();
  return p.data();
}

float e2llm_spm_score(void* model, int32_t id) { return processor(model)->GetScore(id); }

int e2llm_spm_piece_kind(void* model, int32_t id) {
  auto* sp = processor(model);
  return (sp->IsControl(id) ? 1 : 0) | (sp->IsUnknown(id) ? 2 : 0) | (sp->IsUnused(id) ? 16 : 0) |
         (sp->IsByte(id) ? 8 : 0);
}

void e2llm_spm_special_ids(void* model, int32_t* bos, int32_t* eos, int32_t* pad, int32_t* unk) {
  auto* sp = processor(model);
  *bos = sp->bos_id();
  *eos = sp->eos_id();
  *pad = sp->pad_id();
  *unk = sp->unk_id();
}

}  // extern "C"
