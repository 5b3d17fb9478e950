// A running `e2llm` child process whose stdout and stderr a test reads line
// by line, and can signal (SIGKILL for crash tests, SIGTERM for shutdown).
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "test_util.h"

namespace e2llm::test {

// A running `e2llm` whose stdout and stderr the test reads line by line.
class CliProcess {
 public:
  explicit CliProcess(const std::vector<std::string>& args) {
    std::vector<std::string> argv_strings = {cli_path()};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_strings) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_ = ::fork();
    if (pid_ == 0) {  // only async-signal-safe calls until exec
      ::signal(SIGINT, SIG_DFL);  // as from a terminal, even when the tests run as a background job
      ::dup2(null_fd, STDIN_FILENO);
      ::dup2(fds[1], STDOUT_FILENO);
      ::dup2(fds[1], STDERR_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    ::close(null_fd);
    fd_ = fds[0];
  }
  ~CliProcess() {
    if (pid_ > 0 && status_ < 0) {
      ::kill(pid_, SIGKILL);
      wait();
    }
    if (fd_ >= 0) ::close(fd_);
  }
  bool started() const { return pid_ > 0 && fd_ >= 0; }

  // The next line of output (without '\n'), or false at end of output.
  bool next_line(std::string& line) {
    for (;;) {
      const size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        output_ += line + "\n";
        return true;
      }
      char chunk[4096];
      const ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (buffer_.empty()) return false;
        line.swap(buffer_);
        buffer_.clear();
        output_ += line;
        return true;
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }
  void kill() { ::kill(pid_, SIGKILL); }
  void terminate() { ::kill(pid_, SIGTERM); }
  void interrupt() { ::kill(pid_, SIGINT); }  // Ctrl-C
  // Waits for the exit and returns the waitpid status.
  int wait() {
    if (status_ >= 0) return status_;
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    status_ = status;
    return status_;
  }
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  int status_ = -1;
  std::string buffer_, output_;
};

}  // namespace e2llm::test
