/* C interface of libe2llm_spm, the shim around the SentencePiece library.
 * SentencePiece bundles its own protobuf-lite; linked into the same global
 * symbol scope as LibTorch's libprotobuf the process crashes before main(),
 * so e2llm dlopen()s this shim with RTLD_LOCAL | RTLD_DEEPBIND instead of
 * linking SentencePiece. Strings cross the boundary as (pointer, length). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define E2LLM_SPM_ABI_VERSION 1

typedef void (*e2llm_spm_piece_fn)(void* user, int32_t id, const char* piece, size_t piece_len, uint32_t begin,
                                   uint32_t end);
typedef void (*e2llm_spm_text_fn)(void* user, const char* text, size_t len);

int e2llm_spm_abi_version(void);
/* NULL on failure, with a message in err. */
void* e2llm_spm_load(const char* path, char* err, size_t err_len);
void e2llm_spm_free(void* model);
int32_t e2llm_spm_vocab_size(void* model);
/* 0 on success; piece_fn is called once per piece with its byte span. */
int e2llm_spm_encode(void* model, const char* text, size_t len, e2llm_spm_piece_fn piece_fn, void* user, char* err,
                     size_t err_len);
int e2llm_spm_decode(void* model, const int32_t* ids, size_t n, e2llm_spm_text_fn text_fn, void* user, char* err,
                     size_t err_len);
/* -1 when the piece is not in the vocabulary. */
int32_t e2llm_spm_piece_to_id(void* model, const char* piece, size_t len);
/* The piece of an id (valid while the model lives); NULL when out of range. */
const char* e2llm_spm_id_to_piece(void* model, int32_t id, size_t* len);
float e2llm_spm_score(void* model, int32_t id);
/* Bit 0: control, bit 1: unknown, bit 2: user defined, bit 3: byte, bit 4: unused. */
int e2llm_spm_piece_kind(void* model, int32_t id);
/* bos, eos, pad, unk ids (-1 when absent). */
void e2llm_spm_special_ids(void* model, int32_t* bos, int32_t* eos, int32_t* pad, int32_t* unk);

#ifdef __cplusplus
}
#endif
