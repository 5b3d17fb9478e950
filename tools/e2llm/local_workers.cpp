#include "local_workers.h"

#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "e2llm/core/error.h"

extern char** environ;

namespace e2llm::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Pids the signal handler forwards to (async-signal-safe: a fixed array).
constexpr int kMaxWorkers = 256;
pid_t g_workers[kMaxWorkers];
volatile sig_atomic_t g_worker_count = 0;

// The SIGINT or SIGTERM this launcher was sent (0: none): the workers stop
// after their step, with a checkpoint, and end by it; so does the launcher.
volatile sig_atomic_t g_received = 0;

void forward_signal(int signal) {
  for (int i = 0; i < g_worker_count; ++i)
    if (g_workers[i] > 0) ::kill(g_workers[i], signal);
}

void on_signal(int signal) {
  g_received = signal;
  forward_signal(signal);
}

// A port nobody listens on now (the kernel's choice for port 0). Rank 0
// binds it a moment later; torchrun's standalone mode does the same.
int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  E2LLM_CHECK(fd >= 0, "train --nproc: cannot open a socket: {}", std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(fd);
  E2LLM_CHECK(ok, "train --nproc: cannot find a free port on 127.0.0.1: {}", std::strerror(errno));
  return ntohs(address.sin_port);
}

// This process's environment with the rendezvous variables replaced.
std::vector<std::string> worker_environment(int rank, int world_size, int port) {
  const std::pair<std::string, std::string> rendezvous[] = {
      {"RANK", std::to_string(rank)},        {"LOCAL_RANK", std::to_string(rank)},
      {"WORLD_SIZE", std::to_string(world_size)}, {"MASTER_ADDR", "127.0.0.1"},
      {"MASTER_PORT", std::to_string(port)}};
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    if (std::none_of(std::begin(rendezvous), std::end(rendezvous), [&](const auto& r) { return r.first == name; }))
      env.push_back(entry);
  }
  for (const auto& [name, value] : rendezvous) env.push_back(name + "=" + value);
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::string describe(int status) {
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return fmt::format("exited with status {}", WEXITSTATUS(status));
}

int exit_code(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

}  // namespace

int run_local_workers(const LocalWorkers& workers) {
  E2LLM_CHECK(workers.nproc >= 1 && workers.nproc <= kMaxWorkers, "train --nproc {}: must be in 1..{}",
              workers.nproc, kMaxWorkers);
  std::string executable = std::filesystem::read_symlink("/proc/self/exe").string();
  const int port = free_loopback_port();

  struct sigaction forward {};
  forward.sa_handler = on_signal;
  sigemptyset(&forward.sa_mask);
  struct sigaction old_int {}, old_term {};
  ::sigaction(SIGINT, &forward, &old_int);
  ::sigaction(SIGTERM, &forward, &old_term);

  std::vector<pid_t> pids;
  for (int rank = 0; rank < workers.nproc; ++rank) {
    std::vector<std::string> argv = {executable};
    argv.insert(argv.end(), workers.args.begin(), workers.args.end());
    std::vector<std::string> env = worker_environment(rank, workers.nproc, port);
    pid_t pid = -1;
    const int error = ::posix_spawn(&pid, executable.c_str(), nullptr, nullptr, c_strings(argv).data(),
                                    c_strings(env).data());
    if (error != 0) {
      forward_signal(SIGTERM);
      fail("train --nproc: cannot start worker {}: {}", rank, std::strerror(error));
    }
    pids.push_back(pid);
    g_workers[rank] = pid;
    g_worker_count = rank + 1;
  }
  std::fprintf(stderr, "e2llm train: %d workers on 127.0.0.1:%d (pids", workers.nproc, port);
  for (pid_t pid : pids) std::fprintf(stderr, " %d", static_cast<int>(pid));
  std::fprintf(stderr, ")\n");

  // Reap the workers. After the first failure the rest get grace_s to
  // stop, then SIGTERM, then (5 s later) SIGKILL.
  int result = 0, running = workers.nproc;
  Clock::time_point failed_at{};
  bool failed = false, terminated = false, killed = false;
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      const auto rank = static_cast<int>(std::find(pids.begin(), pids.end(), pid) - pids.begin());
      if (rank == workers.nproc) continue;  // not one of ours
      --running;
      g_workers[rank] = -1;
      if (g_received != 0 && WIFSIGNALED(status) && WTERMSIG(status) == g_received) {
        if (result == 0) result = exit_code(status);  // stopped as asked: no failure to report or act on
        continue;
      }
      if (status != 0 && !failed) {
        result = exit_code(status);
        failed = true;
        failed_at = Clock::now();
        std::fprintf(stderr, "e2llm train: worker rank %d (pid %d) %s; stopping the job\n", rank,
                     static_cast<int>(pid), describe(status).c_str());
      }
      continue;
    }
    if (pid < 0 && errno != EINTR) break;
    if (failed) {
      const double waited = std::chrono::duration<double>(Clock::now() - failed_at).count();
      if (!terminated && waited >= workers.grace_s) {
        forward_signal(SIGTERM);
        terminated = true;
      }
      if (!killed && waited >= workers.grace_s + 5) {
        forward_signal(SIGKILL);
        killed = true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  g_worker_count = 0;
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  if (g_received != 0) {  // end as the workers did, as without a handler
    std::fflush(nullptr);
    ::signal(g_received, SIG_DFL);
    ::raise(g_received);
  }
  return result;
}

}  // namespace e2llm::cli
