// MpiExecutor: the federated round's clients over MPI ranks (see the header
// for the protocol).
#include "confml/scaleout/mpi_executor.h"

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

namespace confml::scaleout {

namespace {

enum Command : int64_t { kTrain = 1, kFinish = 2, kAbort = 3 };
constexpr int kResultTag = 71;

std::atomic<bool> g_instance{false};

// MPI counts are int; a bigger message would be silently truncated.
int Count(size_t n) {
  if (n > static_cast<size_t>(INT_MAX)) {
    std::fprintf(stderr, "confml: MPI message of %zu elements exceeds the int count limit\n", n);
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  return static_cast<int>(n);
}

// `status` of rank `root` to every rank.
Status BcastStatus(const Status& status, int root, int rank) {
  int64_t head[2] = {static_cast<int64_t>(status.code()),
                     static_cast<int64_t>(status.message().size())};
  MPI_Bcast(head, 2, MPI_INT64_T, root, MPI_COMM_WORLD);
  std::string message = rank == root ? status.message() : std::string(head[1], '\0');
  if (head[1] > 0) MPI_Bcast(message.data(), Count(message.size()), MPI_CHAR, root, MPI_COMM_WORLD);
  return Status(static_cast<StatusCode>(head[0]), std::move(message));
}

// Worker -> rank 0: the outcome of its share.
void SendShare(const Status& status, const std::vector<ClientTrainResult>& results) {
  const int64_t n = static_cast<int64_t>(results.size());
  int64_t meta[3] = {static_cast<int64_t>(status.code()),
                     static_cast<int64_t>(status.message().size()), status.ok() ? n : 0};
  MPI_Send(meta, 3, MPI_INT64_T, 0, kResultTag, MPI_COMM_WORLD);
  if (!status.ok()) {
    if (meta[1] > 0) {
      MPI_Send(status.message().data(), Count(status.message().size()), MPI_CHAR, 0, kResultTag,
               MPI_COMM_WORLD);
    }
    return;
  }
  if (n == 0) return;
  std::vector<int64_t> ints;
  std::vector<double> doubles;
  for (const ClientTrainResult& r : results) {
    ints.insert(ints.end(), {r.update.client_id, r.update.num_samples, r.samples_seen,
                             static_cast<int64_t>(r.update.values.size())});
    doubles.insert(doubles.end(), {r.loss_sum, r.train_seconds});
  }
  MPI_Send(ints.data(), Count(ints.size()), MPI_INT64_T, 0, kResultTag, MPI_COMM_WORLD);
  MPI_Send(doubles.data(), Count(doubles.size()), MPI_DOUBLE, 0, kResultTag, MPI_COMM_WORLD);
  for (const ClientTrainResult& r : results) {
    MPI_Send(r.update.values.data(), Count(r.update.values.size()), MPI_FLOAT, 0, kResultTag,
             MPI_COMM_WORLD);
  }
}

// Rank 0 <- worker `from`: its share, into (*results)[slots[i]].
Status ReceiveShare(int from, const std::vector<int64_t>& slots,
                    std::vector<ClientTrainResult>* results) {
  int64_t meta[3];
  MPI_Recv(meta, 3, MPI_INT64_T, from, kResultTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  if (meta[0] != 0) {
    std::string message(static_cast<size_t>(meta[1]), '\0');
    if (meta[1] > 0) {
      MPI_Recv(message.data(), Count(message.size()), MPI_CHAR, from, kResultTag, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
    }
    return Status(static_cast<StatusCode>(meta[0]), std::move(message))
        .WithContext("rank " + std::to_string(from));
  }
  const int64_t n = meta[2];
  if (n != static_cast<int64_t>(slots.size())) {
    // The protocol is out of step: nothing later could be trusted.
    std::fprintf(stderr, "confml: rank %d returned %lld results for %zu clients\n", from,
                 static_cast<long long>(n), slots.size());
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  if (n == 0) return OkStatus();
  std::vector<int64_t> ints(static_cast<size_t>(4 * n));
  std::vector<double> doubles(static_cast<size_t>(2 * n));
  MPI_Recv(ints.data(), Count(ints.size()), MPI_INT64_T, from, kResultTag, MPI_COMM_WORLD,
           MPI_STATUS_IGNORE);
  MPI_Recv(doubles.data(), Count(doubles.size()), MPI_DOUBLE, from, kResultTag, MPI_COMM_WORLD,
           MPI_STATUS_IGNORE);
  for (int64_t i = 0; i < n; ++i) {
    ClientTrainResult& r = (*results)[static_cast<size_t>(slots[static_cast<size_t>(i)])];
    const size_t k = static_cast<size_t>(i);
    r.update.client_id = ints[4 * k];
    r.update.num_samples = ints[4 * k + 1];
    r.samples_seen = ints[4 * k + 2];
    r.update.values.resize(static_cast<size_t>(ints[4 * k + 3]));
    r.loss_sum = doubles[2 * k];
    r.train_seconds = doubles[2 * k + 1];
    MPI_Recv(r.update.values.data(), Count(r.update.values.size()), MPI_FLOAT, from, kResultTag,
             MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  }
  return OkStatus();
}

}  // namespace

bool LaunchedByMpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
    if (std::getenv(v) != nullptr) return true;
  }
  return false;
}

std::vector<int> DealClients(const std::vector<int64_t>& work, int ranks) {
  std::vector<int> rank(work.size(), 0);
  if (ranks <= 1) return rank;
  std::vector<size_t> order(work.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return work[a] > work[b]; });
  // +1 per client: empty clients still cost a model load and a message.
  std::vector<int64_t> load(static_cast<size_t>(ranks), 0);
  for (size_t i : order) {
    int best = 0;
    for (int r = 1; r < ranks; ++r) {
      if (load[static_cast<size_t>(r)] < load[static_cast<size_t>(best)]) best = r;
    }
    rank[i] = best;
    load[static_cast<size_t>(best)] += work[i] + 1;
  }
  return rank;
}

StatusOr<std::shared_ptr<MpiExecutor>> MpiExecutor::Create() {
  if (g_instance.exchange(true)) {
    return UnavailableError("MPI: an MpiExecutor already exists in this process");
  }
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) {
    g_instance = false;
    return UnavailableError("MPI: already initialised by someone else in this process");
  }
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    g_instance = false;
    return UnavailableError("MPI: MPI_Init_thread failed");
  }
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    g_instance = false;
    return UnavailableError("MPI: the library does not provide MPI_THREAD_FUNNELED");
  }
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return std::shared_ptr<MpiExecutor>(new MpiExecutor(rank, size));
}

MpiExecutor::~MpiExecutor() {
  MPI_Finalize();
  g_instance = false;
}

Status MpiExecutor::Agree(const Status& local) {
  int mine = local.ok() ? size_ : rank_;
  int first = size_;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  agreed_ = true;
  if (first == size_) return OkStatus();
  failed_rank_ = first;
  failed_ = BcastStatus(local, first, rank_);
  return failed_;
}

Status MpiExecutor::TrainRound(const std::vector<ClientContext>& clients,
                               const std::vector<int64_t>& work, const std::vector<float>& global,
                               const LocalTrainFn& local,
                               std::vector<ClientTrainResult>* results) {
  if (!coordinator()) return FailedPreconditionError("MPI: only rank 0 runs rounds");
  if (ended_) return FailedPreconditionError("MPI: the run has already ended");
  if (!agreed_) {
    Status s = Agree(OkStatus());
    if (!s.ok()) return s.WithContext("rank " + std::to_string(failed_rank_));
  }
  if (work.size() != clients.size()) {
    return InvalidArgumentError("MPI: " + std::to_string(work.size()) + " work sizes for " +
                                std::to_string(clients.size()) + " clients");
  }
  const int64_t n = static_cast<int64_t>(clients.size());
  const int64_t round = n > 0 ? clients.front().round : 0;
  const std::vector<int> deal = DealClients(work, size_);
  int64_t head[4] = {kTrain, round, n, static_cast<int64_t>(global.size())};
  MPI_Bcast(head, 4, MPI_INT64_T, 0, MPI_COMM_WORLD);
  std::vector<int64_t> table;  // (client id, slot, rank) per client
  table.reserve(static_cast<size_t>(3 * n));
  for (int64_t i = 0; i < n; ++i) {
    const ClientContext& c = clients[static_cast<size_t>(i)];
    table.insert(table.end(), {c.client_id, c.slot, deal[static_cast<size_t>(i)]});
  }
  if (n > 0) MPI_Bcast(table.data(), Count(table.size()), MPI_INT64_T, 0, MPI_COMM_WORLD);
  MPI_Bcast(const_cast<float*>(global.data()), Count(global.size()), MPI_FLOAT, 0,
            MPI_COMM_WORLD);

  // Slots per rank, in slot order, so every share is sent and received in
  // the same order.
  std::vector<std::vector<int64_t>> slots(static_cast<size_t>(size_));
  for (int64_t i = 0; i < n; ++i) slots[static_cast<size_t>(deal[static_cast<size_t>(i)])].push_back(i);
  results->assign(static_cast<size_t>(n), ClientTrainResult{});

  std::vector<ClientContext> mine;
  for (int64_t i : slots[0]) mine.push_back(clients[static_cast<size_t>(i)]);
  std::vector<ClientTrainResult> mine_results;
  Status first = local(mine, global, &mine_results);
  if (first.ok()) {
    for (size_t j = 0; j < mine_results.size(); ++j) {
      (*results)[static_cast<size_t>(slots[0][j])] = std::move(mine_results[j]);
    }
  } else {
    first = first.WithContext("rank 0");
  }
  // Receive every share even after an error, so the ranks stay in step.
  for (int r = 1; r < size_; ++r) {
    Status s = ReceiveShare(r, slots[static_cast<size_t>(r)], results);
    if (first.ok() && !s.ok()) first = s;
  }
  return first;
}

void MpiExecutor::EndRun(const Status& status, const std::vector<float>& global) {
  if (!coordinator() || ended_) return;
  ended_ = true;
  if (!agreed_) {
    // The run ended before its first round (a restore error, or every round
    // was already done): the start agreement carries the outcome.
    if (!Agree(status).ok() || !status.ok()) return;
  } else if (!failed_.ok()) {
    return;  // The workers already stopped at the start agreement.
  }
  int64_t head[4] = {status.ok() ? kFinish : kAbort, 0, 0,
                     static_cast<int64_t>(global.size())};
  MPI_Bcast(head, 4, MPI_INT64_T, 0, MPI_COMM_WORLD);
  if (status.ok()) {
    MPI_Bcast(const_cast<float*>(global.data()), Count(global.size()), MPI_FLOAT, 0,
              MPI_COMM_WORLD);
  } else {
    (void)BcastStatus(status, 0, rank_);
  }
}

Status MpiExecutor::Serve(const LocalTrainFn& local, std::vector<float>* final_global) {
  if (coordinator()) return FailedPreconditionError("MPI: rank 0 coordinates; it does not serve");
  if (!agreed_) {
    Status s = Agree(OkStatus());
    if (!s.ok()) return s.WithContext("rank " + std::to_string(failed_rank_));
  }
  std::vector<float> global;
  for (;;) {
    int64_t head[4];
    MPI_Bcast(head, 4, MPI_INT64_T, 0, MPI_COMM_WORLD);
    if (head[0] == kFinish) {
      final_global->resize(static_cast<size_t>(head[3]));
      MPI_Bcast(final_global->data(), Count(final_global->size()), MPI_FLOAT, 0, MPI_COMM_WORLD);
      ended_ = true;
      return OkStatus();
    }
    if (head[0] == kAbort) {
      ended_ = true;
      coordinator_error_ = BcastStatus(OkStatus(), 0, rank_);
      return coordinator_error_;
    }
    if (head[0] != kTrain) {
      std::fprintf(stderr, "confml: rank %d got unknown MPI command %lld\n", rank_,
                   static_cast<long long>(head[0]));
      MPI_Abort(MPI_COMM_WORLD, 3);
    }
    const int64_t round = head[1], n = head[2];
    std::vector<int64_t> table(static_cast<size_t>(3 * n));
    if (n > 0) MPI_Bcast(table.data(), Count(table.size()), MPI_INT64_T, 0, MPI_COMM_WORLD);
    global.resize(static_cast<size_t>(head[3]));
    MPI_Bcast(global.data(), Count(global.size()), MPI_FLOAT, 0, MPI_COMM_WORLD);
    std::vector<ClientContext> mine;
    for (int64_t i = 0; i < n; ++i) {
      const size_t k = static_cast<size_t>(i);
      if (table[3 * k + 2] == rank_) mine.push_back(ClientContext{round, table[3 * k], table[3 * k + 1]});
    }
    std::vector<ClientTrainResult> results;
    Status s = local(mine, global, &results);
    if (s.ok() && results.size() != mine.size()) {
      s = InternalError("the worker pool returned " + std::to_string(results.size()) +
                        " results for " + std::to_string(mine.size()) + " clients");
    }
    SendShare(s, results);
  }
}

MpiExecutor::Outcome MpiExecutor::Conclude(const Status& local) {
  if (!agreed_) {
    // This rank never reached the engine. Returning OK without it would leave
    // the others waiting for a rank that never trains.
    Status mine = local.ok() ? InternalError("rank " + std::to_string(rank_) +
                                             " finished without taking part in the federated run")
                             : local;
    Status agreed = Agree(mine);
    if (agreed.ok()) agreed = mine;  // Unreachable: this rank's failure is in the agreement.
    return Outcome{agreed, failed_rank_ == rank_};
  }
  if (!failed_.ok()) return Outcome{failed_, failed_rank_ == rank_};
  if (coordinator()) {
    if (!ended_) {
      // The engine stopped without ending the run (a Run cut short): release
      // the workers with this rank's verdict.
      EndRun(local.ok() ? InternalError("the coordinator stopped before the last round") : local,
             {});
    }
    return Outcome{local, true};
  }
  if (!ended_) {
    // A worker failed after the start but outside the protocol: the others
    // cannot go on without it.
    std::fprintf(stderr, "confml: rank %d: %s\n", rank_, local.ToString().c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  return Outcome{coordinator_error_, false};
}

}  // namespace confml::scaleout
