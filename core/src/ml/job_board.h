// Private to confml::core_ml: one evaluation batch, the job dispatch of the worker threads that
// train and evaluate (FederatedEngine's client workers, Trainer::Fit's
// micro-batch workers), and the switch that makes a worker thread run
// LibTorch at one intra-op thread, so its results do not depend on how many
// threads the process uses.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "confml/core/model.h"
#include "confml/core/status.h"

namespace confml::internal {

// Summed cross-entropy and the number of correct predictions of `model` on
// one evaluation batch; the caller sets evaluation mode and NoGradGuard.
// Throws c10::Error on a model/data mismatch.
struct BatchEval {
  double loss_sum = 0.0;
  int64_t correct = 0;
};
BatchEval EvaluateBatch(Model& model, const torch::Tensor& x, const torch::Tensor& y);

// Makes LibTorch (OpenMP, and OpenBLAS / oneDNN, which follow the OpenMP
// ICV of the calling thread) run single-threaded on this thread.
Status MakeThreadSingleThreaded();

// Run hands items [0, n) to whichever worker is free; results go to per-item
// slots owned by the caller, so they do not depend on which worker ran what.
class JobBoard {
 public:
  using Job = std::function<Status(int64_t worker, int64_t item)>;

  // Called by the coordinator; blocks until every item ran. Returns the error
  // of the lowest failing item, so the reported error does not depend on
  // scheduling.
  Status Run(int64_t n, const Job& job) {
    std::vector<Status> status(static_cast<size_t>(n));
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &job;
      status_ = &status;
      n_ = n;
      next_.store(0);
      busy_ = workers_;
      ++generation_;
    }
    cv_.notify_all();
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return busy_ == 0; });
    job_ = nullptr;
    for (Status& s : status) {
      if (!s.ok()) return s;
    }
    return OkStatus();
  }

  // Worker loop; returns when Stop is called.
  void Serve(int64_t worker, Status init) {
    int64_t seen = 0;
    for (;;) {
      const Job* job = nullptr;
      std::vector<Status>* status = nullptr;
      int64_t n = 0;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        job = job_;
        status = status_;
        n = n_;
      }
      for (int64_t item = next_.fetch_add(1); item < n; item = next_.fetch_add(1)) {
        (*status)[static_cast<size_t>(item)] = init.ok() ? (*job)(worker, item) : init;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (--busy_ == 0) done_cv_.notify_all();
      }
    }
  }

  void SetWorkers(int64_t w) { workers_ = w; }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  const Job* job_ = nullptr;
  std::vector<Status>* status_ = nullptr;
  int64_t n_ = 0;
  std::atomic<int64_t> next_{0};
  int64_t workers_ = 0;
  int64_t busy_ = 0;
  int64_t generation_ = 0;
  bool stop_ = false;
};

}  // namespace confml::internal
