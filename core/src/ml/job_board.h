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
#include <string>
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

// Worker threads, each at one intra-op thread, serving one JobBoard: the pool
// of FederatedEngine's clients and of Trainer::Fit's micro-batches. Without
// Start (or with Start(0)) Run computes the items on the caller, in order.
class PinnedWorkers {
 public:
  PinnedWorkers() = default;
  ~PinnedWorkers() {
    board_.Stop();
    for (std::thread& t : threads_) t.join();
  }
  PinnedWorkers(const PinnedWorkers&) = delete;
  PinnedWorkers& operator=(const PinnedWorkers&) = delete;

  // Called once, before Run.
  void Start(int64_t count) {
    board_.SetWorkers(count);
    threads_.reserve(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      threads_.emplace_back([this, i] { board_.Serve(i, MakeThreadSingleThreaded()); });
    }
  }

  // The threads started; 0 when the caller computes.
  int64_t started() const { return static_cast<int64_t>(threads_.size()); }

  // Runs job(worker, item) for items [0, n); returns the error of the lowest
  // failing item. No exception leaves a job: LibTorch's become
  // InvalidArgument, others Internal, prefixed by context() if it is given
  // and not empty.
  Status Run(int64_t n, const JobBoard::Job& job,
             const std::function<std::string()>& context = nullptr) {
    auto with_context = [&](const std::string& what) {
      const std::string c = context ? context() : std::string();
      return c.empty() ? what : c + ": " + what;
    };
    JobBoard::Job guarded = [&](int64_t worker, int64_t item) -> Status {
      try {
        return job(worker, item);
      } catch (const c10::Error& e) {
        return InvalidArgumentError(with_context(e.what_without_backtrace()));
      } catch (const std::exception& e) {
        return InternalError(with_context(e.what()));
      }
    };
    if (!threads_.empty()) return board_.Run(n, guarded);
    for (int64_t item = 0; item < n; ++item) CONFML_RETURN_IF_ERROR(guarded(0, item));
    return OkStatus();
  }

 private:
  JobBoard board_;
  std::vector<std::thread> threads_;
};

}  // namespace confml::internal
