# Every dependency comes from Debian's archive (scripts/setup.sh installs them),
# except a CUDA LibTorch, which CMAKE_PREFIX_PATH may point at.
find_package(Torch REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
# SentencePiece bundles its own protobuf-lite and exports its symbols; linked
# into the same global symbol scope as LibTorch's libprotobuf it crashes before
# main(). It is therefore only ever loaded through a small shim library that
# e2llm dlopen()s with RTLD_LOCAL | RTLD_DEEPBIND (see src/text).
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)
find_package(SQLite3 REQUIRED)
find_package(OpenMP REQUIRED)
find_package(OpenSSL REQUIRED)  # SHA-256 of document ids (e2llm serve)
# cpp-httplib (e2llm serve): Debian builds it as a library with TLS, zlib and
# brotli support; every file that includes httplib.h needs the same defines.
pkg_check_modules(HTTPLIB REQUIRED cpp-httplib)
set(E2LLM_HTTPLIB_CFLAGS ${HTTPLIB_CFLAGS_OTHER})
set(E2LLM_HTTPLIB_LIBRARIES ${HTTPLIB_LINK_LIBRARIES})

# OpenBLAS: LibTorch (Debian) links libblas.so.3 / libopenblas.so.0, which the
# alternatives system may point at the reference BLAS (~30x slower) or the
# pthread OpenBLAS (fights LibTorch's OpenMP threads). We pin the OpenMP build
# by linking it explicitly and putting its directory in DT_RPATH (not RUNPATH):
# DT_RPATH of the executable is also searched for the dependencies of
# libtorch_cpu.so, so the choice does not depend on the alternatives setting.
set(E2LLM_OPENBLAS_DIR "/usr/lib/x86_64-linux-gnu/openblas-openmp"
    CACHE PATH "Folder holding the OpenMP build of OpenBLAS")
find_library(E2LLM_OPENBLAS_LIB NAMES openblas PATHS ${E2LLM_OPENBLAS_DIR} NO_DEFAULT_PATH)
if(NOT E2LLM_OPENBLAS_LIB)
  message(FATAL_ERROR "OpenMP OpenBLAS not found in ${E2LLM_OPENBLAS_DIR}: "
                      "apt-get install libopenblas0-openmp libopenblas-openmp-dev")
endif()
message(STATUS "e2llm: OpenBLAS (OpenMP build) = ${E2LLM_OPENBLAS_LIB}")

add_library(e2llm_deps INTERFACE)
target_link_libraries(e2llm_deps INTERFACE
  ${TORCH_LIBRARIES} nlohmann_json::nlohmann_json CLI11::CLI11 fmt::fmt spdlog::spdlog
  PkgConfig::PCRE2 SQLite::SQLite3 OpenMP::OpenMP_CXX
  ${E2LLM_OPENBLAS_LIB})
target_link_options(e2llm_deps INTERFACE
  "LINKER:--disable-new-dtags" "LINKER:-rpath,${E2LLM_OPENBLAS_DIR}")
target_compile_options(e2llm_deps INTERFACE ${TORCH_CXX_FLAGS})
target_compile_definitions(e2llm_deps INTERFACE SPDLOG_FMT_EXTERNAL)
