// confml/scaleout/mpi_executor.h: the MPI simulation backend. Under
// `mpirun -np K confml run CONFIG.yaml` every rank builds the same federated
// experiment; rank 0 (the coordinator) runs the rounds, and each round's
// participating clients are dealt to the ranks, trained there on a worker pool
// of `federated.workers` threads, and their updates gathered back to rank 0 in
// client order. Results are bitwise identical to the single-process run.
//
//   if (LaunchedByMpi()) {
//     StatusOr<std::shared_ptr<MpiExecutor>> mpi = MpiExecutor::Create();   // MPI_Init
//     experiments::RunOptions options;
//     options.client_executor = *mpi;
//     options.write_run_dir = (*mpi)->coordinator();      // only rank 0 writes
//     StatusOr<experiments::RunResult> r = experiments::RunExperiment(config, options);
//     MpiExecutor::Outcome o = (*mpi)->Conclude(r.status());
//     if (o.report) { /* print o.status or the result */ }
//   }                                                     // last reference: MPI_Finalize
//
// Protocol (only the thread that runs the engine calls MPI; funneled):
//   1. Start: every rank reports once whether it got as far as the engine
//      (an Allreduce); when any failed, the lowest failing rank's error is
//      broadcast, that rank alone reports it, and nobody trains.
//   2. Each round: rank 0 broadcasts the round's deal and the global state;
//      every rank trains its share through the engine's worker pool; workers
//      send (status, per-client numbers, deltas) to rank 0, which receives in
//      rank order and puts results in slot order. Aggregation always runs on
//      the gathered updates in client order (even FedAvg: an MPI reduction
//      would sum in another order and change the bits).
//   3. End: rank 0 broadcasts either the final global state or its error.
// A client whose training fails on a worker fails the round on rank 0 like a
// local failure; the error of the lowest rank wins. Transport failures are MPI
// errors, which abort the whole job (MPI_ERRORS_ARE_FATAL).
//
// Thread-compatible; one instance per process (MPI is initialised once).
#pragma once

#include <memory>
#include <vector>

#include "confml/core/federated.h"
#include "confml/core/status.h"

namespace confml::scaleout {

// True when an MPI launcher (mpirun/mpiexec, or a PMI/PMIx resource manager)
// started this process; a plain `confml run` then never initialises MPI.
bool LaunchedByMpi();

// Which rank trains each client: rank[i] for work[i]. Greedy longest-first
// (largest work to the least-loaded rank, ties to the lowest rank), so it is
// a fixed function of the round's clients. `ranks` >= 1.
std::vector<int> DealClients(const std::vector<int64_t>& work, int ranks);

class MpiExecutor final : public ClientExecutor {
 public:
  // Initialises MPI. Unavailable when MPI cannot start or when an
  // MpiExecutor already exists in this process.
  static StatusOr<std::shared_ptr<MpiExecutor>> Create();
  ~MpiExecutor() override;  // Finalises MPI.
  MpiExecutor(const MpiExecutor&) = delete;
  MpiExecutor& operator=(const MpiExecutor&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

  bool coordinator() const override { return rank_ == 0; }
  Status TrainRound(const std::vector<ClientContext>& clients, const std::vector<int64_t>& work,
                    const std::vector<float>& global, const LocalTrainFn& local,
                    std::vector<ClientTrainResult>* results) override;
  void EndRun(const Status& status, const std::vector<float>& global) override;
  Status Serve(const LocalTrainFn& local, std::vector<float>* final_global) override;

  // How the job ended, as every rank agrees.
  struct Outcome {
    Status status;        // OK, or the error the job failed with.
    bool report = false;  // Whether this rank prints it (exactly one rank does).
  };
  // Every rank calls this once, with what its part of the run returned
  // (`local`). When the rank never reached the engine, this takes part in the
  // start agreement (collective). A worker rank reports nothing and ends OK
  // once the coordinator finished, whatever its own post-processing returned
  // (its outputs are discarded).
  Outcome Conclude(const Status& local);

 private:
  MpiExecutor(int rank, int size) : rank_(rank), size_(size) {}
  // Step 1 of the protocol; sets agreed_ and, on failure, failed_.
  Status Agree(const Status& local);

  int rank_ = 0;
  int size_ = 1;
  bool agreed_ = false;
  Status failed_;          // The start agreement's failure (the lowest failing rank's).
  int failed_rank_ = -1;
  bool ended_ = false;     // Coordinator: EndRun sent. Worker: the coordinator ended the run.
  Status coordinator_error_;  // Worker: the coordinator's error, when the run failed there.
};

}  // namespace confml::scaleout
