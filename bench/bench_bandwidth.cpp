// STREAM-like memory-bandwidth probe (issue #14). Decoding one token reads
// every weight once, so tokens/s <= (bytes read per second) / (weight bytes
// per token); this prints that ceiling's numerator for 1 and N threads.
//   read:  sum of a buffer far larger than any cache -> bytes READ per second,
//          the figure that bounds decoding.
//   triad: a[i] = b[i] + s*c[i], STREAM's convention of 24 bytes per element
//          (2 read + 1 written; the write-allocate read is not counted), so it
//          compares with published STREAM figures.
// Plain C++20 + OpenMP: no LibTorch and no e2llm code, so it measures the
// machine alone. Usage: bench_bandwidth [--mib N] [--reps N] [--threads 1,2,..]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Result {
  const char* kernel;
  int threads;
  double best_gbs, median_gbs;
};

// Aligned, untouched memory: the pages are first written by the threads that
// will read them (first touch), as STREAM does.
template <class T>
T* alloc(size_t n) {
  size_t bytes = (n * sizeof(T) + 4095) / 4096 * 4096;
  auto* p = static_cast<T*>(std::aligned_alloc(4096, bytes));
  if (!p) {
    std::fprintf(stderr, "bench_bandwidth: cannot allocate %zu MiB\n", bytes >> 20);
    std::exit(1);
  }
  return p;
}

// Runs kernel(threads) reps times after one warm-up pass and turns the times
// into GB/s (1e9 bytes); best-of-N is the usual STREAM figure, the median
// shows how noisy the machine was (e.g. another build running).
template <class F>
Result measure(const char* name, int threads, int reps, double bytes, F&& kernel) {
  kernel(threads);
  std::vector<double> gbs;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    kernel(threads);
    std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    gbs.push_back(bytes / dt.count() / 1e9);
  }
  std::sort(gbs.begin(), gbs.end());
  return {name, threads, gbs.back(), gbs[gbs.size() / 2]};
}

[[noreturn]] void usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "Usage: bench_bandwidth [--mib N] [--reps N] [--threads 1,2,...]\n"
               "  --mib      buffer size for each kernel (default 1024)\n"
               "  --reps     timed passes per kernel, best and median reported (default 10)\n"
               "  --threads  comma-separated thread counts (default 1 and all cores)\n");
  std::exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = 1024;
  int reps = 10;
  std::vector<int> threads;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") usage(0);
    if (i + 1 >= argc) usage(2);
    const char* v = argv[++i];
    if (a == "--mib") {
      mib = std::strtoull(v, nullptr, 10);
    } else if (a == "--reps") {
      reps = std::atoi(v);
    } else if (a == "--threads") {
      for (const char* p = v; *p;) {
        char* end;
        long t = std::strtol(p, &end, 10);
        if (end == p || t < 1) usage(2);
        threads.push_back(static_cast<int>(t));
        p = *end == ',' ? end + 1 : end;
      }
    } else {
      usage(2);
    }
  }
  if (mib == 0 || reps < 1) usage(2);
  int cores = omp_get_num_procs();
  if (threads.empty()) threads = cores > 1 ? std::vector<int>{1, cores} : std::vector<int>{1};
  int max_threads = *std::max_element(threads.begin(), threads.end());

  // read: 64-bit integer sum, whose 1-cycle add latency keeps the loop bound
  // by memory rather than by the reduction's dependency chain.
  size_t n = (mib << 20) / sizeof(uint64_t);
  uint64_t* buf = alloc<uint64_t>(n);
#pragma omp parallel for num_threads(max_threads) schedule(static)
  for (size_t i = 0; i < n; ++i) buf[i] = i * 2654435761u;
  volatile uint64_t sink = 0;  // keeps the sums from being optimized away
  auto read_sum = [&](int t) {
    uint64_t total = 0;
#pragma omp parallel for num_threads(t) schedule(static) reduction(+ : total)
    for (size_t i = 0; i < n; ++i) total += buf[i];
    sink = sink + total;
  };

  // triad: three arrays of a third of the buffer each, same footprint.
  size_t m = (mib << 20) / 3 / sizeof(double);
  double *a = alloc<double>(m), *b = alloc<double>(m), *c = alloc<double>(m);
#pragma omp parallel for num_threads(max_threads) schedule(static)
  for (size_t i = 0; i < m; ++i) a[i] = 0.0, b[i] = 1.0, c[i] = 2.0;
  const double s = 3.0;
  auto triad = [&](int t) {
#pragma omp parallel for num_threads(t) schedule(static)
    for (size_t i = 0; i < m; ++i) a[i] = b[i] + s * c[i];
    sink = sink + static_cast<uint64_t>(a[m / 2]);
  };

  std::vector<Result> results;
  for (int t : threads) {
    results.push_back(measure("read", t, reps, double(n * sizeof(uint64_t)), read_sum));
    results.push_back(measure("triad", t, reps, double(3 * m * sizeof(double)), triad));
  }

  std::printf("buffer %zu MiB, best and median of %d passes, GB/s = 1e9 bytes/s\n", mib, reps);
  std::printf("%-6s %7s %10s %12s\n", "kernel", "threads", "best GB/s", "median GB/s");
  for (const auto& r : results)
    std::printf("%-6s %7d %10.2f %12.2f\n", r.kernel, r.threads, r.best_gbs, r.median_gbs);
  std::printf("{\"bench\":\"bandwidth\",\"buffer_mib\":%zu,\"reps\":%d,\"results\":[", mib, reps);
  for (size_t i = 0; i < results.size(); ++i)
    std::printf("%s{\"kernel\":\"%s\",\"threads\":%d,\"best_gbs\":%.2f,\"median_gbs\":%.2f}",
                i ? "," : "", results[i].kernel, results[i].threads, results[i].best_gbs,
                results[i].median_gbs);
  std::printf("]}\n");
  std::free(buf), std::free(a), std::free(b), std::free(c);
  return 0;
}
