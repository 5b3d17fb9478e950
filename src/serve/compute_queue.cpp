#include "serve/compute_queue.h"

#include <spdlog/spdlog.h>

namespace e2llm::serve {

void ComputeQueue::start(std::function<void()> first, std::function<bool()> idle) {
  thread_ = std::thread([this, first = std::move(first), idle = std::move(idle)] { loop(first, idle); });
}

bool ComputeQueue::submit(Job job) {
  std::lock_guard lock(mutex_);
  if (stopping_ || jobs_.size() >= max_waiting_) return false;
  jobs_.push_back(std::move(job));
  wake_.notify_one();
  return true;
}

void ComputeQueue::stop() {
  std::deque<Job> dropped;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    dropped.swap(jobs_);
    wake_.notify_all();
  }
  for (Job& job : dropped) job(false);
  std::lock_guard join_lock(join_mutex_);  // run() and stop() may both get here
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

size_t ComputeQueue::waiting() const {
  std::lock_guard lock(mutex_);
  return jobs_.size();
}

void ComputeQueue::loop(const std::function<void()>& first, const std::function<bool()>& idle) {
  if (first) first();
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      if (idle && jobs_.empty() && !stopping_) {
        lock.unlock();
        bool worked = false;
        try {
          worked = idle();
        } catch (const std::exception& e) {
          spdlog::error("serve: idle work failed: {}", e.what());
        }
        if (worked) continue;
        lock.lock();
      }
      wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    try {
      job(true);
    } catch (const std::exception& e) {
      // A job reports its own errors to its waiter; this is a last resort.
      spdlog::error("serve: a job failed outside its handler: {}", e.what());
    }
  }
}

}  // namespace e2llm::serve
