// OneIntraOpThread: a scope in which the calling thread runs LibTorch at one
// intra-op thread, so that tensor work done directly on a coordinator thread
// (attack hooks, attack reports, the flow kinds) gives the same bits whatever
// `experiment.threads` is. The previous setting of the thread comes back when
// the scope ends, also when it ends by an exception.
//
//   {
//     OneIntraOpThread one_thread;
//     CONFML_ASSIGN_OR_RETURN(AttackReport r, attack->Report());
//   }  // the caller's thread count again
//
// Work handed to confml's own worker pools (Trainer::Fit, Evaluate,
// ForEachAtOneThread) already runs at one thread per worker; inside the scope
// those pools see one caller thread and so use one worker: same numbers, one
// core. Per thread; nests (an inner scope restores one thread).
#pragma once

namespace confml {

class OneIntraOpThread {
 public:
  OneIntraOpThread();
  ~OneIntraOpThread();
  OneIntraOpThread(const OneIntraOpThread&) = delete;
  OneIntraOpThread& operator=(const OneIntraOpThread&) = delete;

 private:
  int previous_;
};

}  // namespace confml
