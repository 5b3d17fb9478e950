// One thread that runs jobs in the order they came, with a bounded number
// waiting, and idle work between them: the server's compute thread (the
// model is used from it alone).
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace e2llm::serve {

class ComputeQueue {
 public:
  // A job is called with run = true on the compute thread, or with
  // run = false (on whichever thread stops the queue) when it is dropped
  // unrun, so that whoever waits for it learns so.
  using Job = std::function<void(bool run)>;

  explicit ComputeQueue(size_t max_waiting) : max_waiting_(max_waiting) {}
  ~ComputeQueue() { stop(); }
  ComputeQueue(const ComputeQueue&) = delete;
  ComputeQueue& operator=(const ComputeQueue&) = delete;

  // Starts the thread; `first` runs on it before any job (loading the
  // model). `idle`, when given, runs whenever no job waits and returns
  // whether it did something: while it does, the thread goes on without
  // sleeping and takes new jobs between its calls (the server's decode steps).
  void start(std::function<void()> first, std::function<bool()> idle = nullptr);
  // Queues `job`; false (and `job` untouched) when max_waiting jobs already
  // wait or the queue is stopped.
  bool submit(Job job);
  // Drops the waiting jobs, lets the running one finish, joins the thread.
  void stop();
  size_t waiting() const;

 private:
  void loop(const std::function<void()>& first, const std::function<bool()>& idle);

  size_t max_waiting_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::mutex join_mutex_;
  std::thread thread_;
};

}  // namespace e2llm::serve
