// MakeThreadSingleThreaded and OneIntraOpThread.
#include "job_board.h"

#include <ATen/Parallel.h>
#include <omp.h>
#include <torch/torch.h>

#include <string>

#include "confml/core/thread_scope.h"

namespace confml::internal {

namespace {

// LibTorch sets the ICV itself the first time a thread reaches a parallel op
// (from the process-wide at::set_num_threads), so that first touch happens
// here, before the ICV is overridden; otherwise it would later undo our
// setting.
Status InitLibTorchThread() {
  try {
    at::internal::lazy_init_num_threads();
    torch::Tensor t = torch::ones({4096});
    t.add_(1.0);  // Reaches at::parallel_for, which runs LibTorch's lazy init.
  } catch (const c10::Error& e) {
    return InternalError(std::string("initialising a worker thread: ") +
                         e.what_without_backtrace());
  }
  return OkStatus();
}

}  // namespace

Status MakeThreadSingleThreaded() {
  CONFML_RETURN_IF_ERROR(InitLibTorchThread());
  omp_set_num_threads(1);
  if (at::get_num_threads() != 1) {
    return InternalError("could not make a worker thread single-threaded: LibTorch reports " +
                         std::to_string(at::get_num_threads()) + " intra-op threads");
  }
  return OkStatus();
}

}  // namespace confml::internal

namespace confml {

// A failed first touch (it allocates) leaves LibTorch's lazy init pending; the
// scope still pins the OpenMP setting, which is what kernels read.
OneIntraOpThread::OneIntraOpThread() {
  (void)internal::InitLibTorchThread();
  previous_ = omp_get_max_threads();
  omp_set_num_threads(1);
}

OneIntraOpThread::~OneIntraOpThread() { omp_set_num_threads(previous_); }

}  // namespace confml
