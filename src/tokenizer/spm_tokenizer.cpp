// SentencePiece tokenizer.model files, through libe2llm_spm (src_shims/): the
// shim is dlopen()ed with RTLD_LOCAL | RTLD_DEEPBIND so SentencePiece's own
// protobuf never meets LibTorch's.
#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "../../src_shims/spm_shim.h"
#include "e2llm/core/error.h"
#include "e2llm/core/runtime.h"
#include "e2llm/io/fs.h"
#include "tokenizer/loaders.h"

namespace e2llm::text {
namespace {

struct ShimApi {
  decltype(&e2llm_spm_abi_version) abi_version;
  decltype(&e2llm_spm_load) load;
  decltype(&e2llm_spm_free) free;
  decltype(&e2llm_spm_vocab_size) vocab_size;
  decltype(&e2llm_spm_encode) encode;
  decltype(&e2llm_spm_decode) decode;
  decltype(&e2llm_spm_piece_to_id) piece_to_id;
  decltype(&e2llm_spm_id_to_piece) id_to_piece;
  decltype(&e2llm_spm_piece_kind) piece_kind;
  decltype(&e2llm_spm_special_ids) special_ids;
};

std::vector<std::string> shim_candidates() {
  std::vector<std::string> paths;
  if (const char* env = std::getenv("E2LLM_SPM_SHIM")) paths.emplace_back(env);
  paths.push_back(executable_dir() + "/libe2llm_spm.so");
#ifdef E2LLM_SPM_SHIM_PATH
  paths.emplace_back(E2LLM_SPM_SHIM_PATH);
#endif
  return paths;
}

template <typename Fn>
void bind(void* handle, const char* name, Fn& fn, const std::string& path) {
  fn = reinterpret_cast<Fn>(::dlsym(handle, name));
  E2LLM_CHECK(fn != nullptr, "{}: SentencePiece shim lacks symbol {}", path, name);
}

const ShimApi& shim() {
  static std::once_flag once;
  static ShimApi api;
  static std::string error;
  std::call_once(once, [] {
    std::string tried;
    for (const std::string& path : shim_candidates()) {
      if (!file_exists(path)) {
        tried += " " + path;
        continue;
      }
      void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (!handle) {
        error = fmt::format("cannot load the SentencePiece shim {}: {}", path, ::dlerror());
        return;
      }
      bind(handle, "e2llm_spm_abi_version", api.abi_version, path);
      bind(handle, "e2llm_spm_load", api.load, path);
      bind(handle, "e2llm_spm_free", api.free, path);
      bind(handle, "e2llm_spm_vocab_size", api.vocab_size, path);
      bind(handle, "e2llm_spm_encode", api.encode, path);
      bind(handle, "e2llm_spm_decode", api.decode, path);
      bind(handle, "e2llm_spm_piece_to_id", api.piece_to_id, path);
      bind(handle, "e2llm_spm_id_to_piece", api.id_to_piece, path);
      bind(handle, "e2llm_spm_piece_kind", api.piece_kind, path);
      bind(handle, "e2llm_spm_special_ids", api.special_ids, path);
      if (api.abi_version() != E2LLM_SPM_ABI_VERSION)
        error = fmt::format("{}: SentencePiece shim ABI {} != {}", path, api.abi_version(), E2LLM_SPM_ABI_VERSION);
      return;
    }
    error = "SentencePiece shim libe2llm_spm.so not found (set E2LLM_SPM_SHIM; tried" + tried + ")";
  });
  E2LLM_CHECK(error.empty(), "{}", error);
  return api;
}

class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& path) : api_(shim()), path_(path) {
    char err[512] = {0};
    model_ = api_.load(path.c_str(), err, sizeof err);
    E2LLM_CHECK(model_ != nullptr, "{}: not a SentencePiece model: {}", path, err);
    int32_t bos, eos, pad, unk;
    api_.special_ids(model_, &bos, &eos, &pad, &unk);
    auto opt = [](int32_t id) { return id >= 0 ? std::optional<int64_t>(id) : std::nullopt; };
    special_ids_.bos = opt(bos);
    special_ids_.eos = opt(eos);
    special_ids_.pad = opt(pad);
    special_ids_.unk = opt(unk);
  }
  ~SentencePieceTokenizer() override { api_.free(model_); }

  std::string decode(std::span<const int64_t> ids, bool skip_special_tokens) const override {
    std::string out;
    std::vector<int32_t> run;
    auto flush = [&] {
      if (run.empty()) return;
      char err[512] = {0};
      int rc = api_.decode(
          model_, run.data(), run.size(),
          [](void* user, const char* text, size_t len) { static_cast<std::string*>(user)->append(text, len); }, &out,
          err, sizeof err);
      E2LLM_CHECK(rc == 0, "{}: decode failed: {}", path_, err);
      run.clear();
    };
    for (int64_t id : ids) {
      check_id(id);
      if (!skip_special_tokens && is_special(id)) {
        flush();
        out += id_to_token(id);
        continue;
      }
      run.push_back(static_cast<int32_t>(id));
    }
    flush();
    return out;
  }

  std::optional<int64_t> token_to_id(std::string_view token) const override {
    int32_t id = api_.piece_to_id(model_, token.data(), token.size());
    return id >= 0 ? std::optional<int64_t>(id) : std::nullopt;
  }
  std::string id_to_token(int64_t id) const override {
    check_id(id);
    size_t len = 0;
    const char* p = api_.id_to_piece(model_, static_cast<int32_t>(id), &len);
    return std::string(p, len);
  }
  size_t vocab_size() const override { return static_cast<size_t>(api_.vocab_size(model_)); }
  bool is_special(int64_t id) const override {
    return id >= 0 && id < api_.vocab_size(model_) && (api_.piece_kind(model_, static_cast<int32_t>(id)) & 1) != 0;
  }

 protected:
  // add_special_tokens puts BOS in front (what Llama-style SentencePiece models expect).
  Encoding encode_valid(std::string_view text, bool add_special_tokens) const override {
    Encoding e;
    if (add_special_tokens && special_ids_.bos) {
      e.ids.push_back(*special_ids_.bos);
      e.tokens.push_back(id_to_token(*special_ids_.bos));
      e.byte_offsets.emplace_back(0, 0);
      e.special_tokens_mask.push_back(1);
    }
    char err[512] = {0};
    int rc = api_.encode(
        model_, text.data(), text.size(),
        [](void* user, int32_t id, const char* piece, size_t len, uint32_t b, uint32_t end) {
          auto* enc = static_cast<Encoding*>(user);
          enc->ids.push_back(id);
          enc->tokens.emplace_back(piece, len);
          enc->byte_offsets.emplace_back(b, end);
          enc->special_tokens_mask.push_back(0);
        },
        &e, err, sizeof err);
    E2LLM_CHECK(rc == 0, "{}: encode failed: {}", path_, err);
    return e;
  }

 private:
  void check_id(int64_t id) const {
    E2LLM_CHECK(id >= 0 && id < api_.vocab_size(model_), "{}: token id {} is out of range (vocabulary size {})",
                path_, id, api_.vocab_size(model_));
  }
  const ShimApi& api_;
  std::string path_;
  void* model_ = nullptr;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_model(const std::string& path) {
  return std::make_unique<SentencePieceTokenizer>(path);
}

}  // namespace e2llm::text
