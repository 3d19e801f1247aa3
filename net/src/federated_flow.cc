// The federated flow as processes: `confml serve runtime` runs an ordinary
// federated experiment (the same RunExperiment as `confml run`) whose
// ClientExecutor hands each round's clients to attested device processes
// over gRPC; `confml device` builds the same experiment and serves its share
// of the clients through the engine's own local-training path; `confml serve
// model-provider` builds the initial model and releases it to the runtime.
// A client's training depends only on (global state, seed, round, client id,
// data), so the final model is bitwise the single-process run's whenever no
// owned client goes missing.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "confml/core/federated.h"
#include "confml/core/file_util.h"
#include "confml/experiments/runner.h"
#include "net_common.h"
#include "net_internal.h"

namespace confml::net::internal {
namespace {

using Clock = std::chrono::steady_clock;

// With owned data device i is client i: a device count other than the
// partition's client count would give a device someone else's data or leave
// a client without its device.
Status CheckOwnedDeviceCount(const Scenario& scenario, int64_t devices, const std::string& flag) {
  if (!scenario.owned_clients) return OkStatus();
  const int64_t clients = scenario.experiment->Int("partition", "num_clients");
  if (devices == clients) return OkStatus();
  return InvalidArgumentError(flag + " is " + std::to_string(devices) +
                              ", but partition 'owned' gives one client per device and has " +
                              std::to_string(clients) + " (partition.num_clients)");
}

// The largest model a device takes from the runtime (one gRPC message is
// bounded by RuntimeStub's channel, chunks by kMaxChunkBytes).
constexpr int64_t kMaxModelBytes = int64_t{1} << 30;

Clock::time_point After(double seconds) {
  return Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// What happened in one round, for the run's record.
struct RoundLog {
  int64_t round = 0;
  std::map<std::string, std::vector<int64_t>> trained;  // device -> clients it trained
  std::vector<std::string> dropouts;
  int64_t redealt = 0;           // clients moved to another device after a dropout
  std::vector<int64_t> missing;  // owned clients whose device was absent
  int64_t attempts = 1;
};

// The runtime side: a ClientExecutor (the engine calls TrainRound on the
// thread running RunExperiment) that is also the gRPC service the devices
// call (on gRPC's threads). Everything shared is guarded by mu_.
//
// The deal: device i owns the clients with id % N == i. With owned data
// (Scenario::owned_clients) that never changes: an absent device's client
// waits for it and, once the round cannot gain more, is left missing for the
// engine. With shared data a lost device's clients are re-dealt.
class RuntimeExecutor final : public ClientExecutor, public confml::v1::Runtime::Service {
 public:
  struct Setup {
    int64_t devices = 2;
    Bytes digest;             // the resolved config's
    std::string model_name;   // for the size check's message
    bool owned = false;       // Scenario::owned_clients
    int64_t min_updates = 0;  // federated.min_updates
  };
  RuntimeExecutor(const RuntimeOptions& o, std::shared_ptr<Logger> log, Setup setup,
                  const std::atomic<bool>* stop)
      : o_(o),
        log_(std::move(log)),
        stop_(stop),
        digest_(std::move(setup.digest)),
        model_name_(std::move(setup.model_name)),
        owned_(setup.owned),
        // A round with no update at all is a deployment that lost every
        // device, never a result, whatever min_updates allows.
        floor_(std::max<int64_t>(1, setup.min_updates)),
        devices_(static_cast<size_t>(setup.devices)) {}

  // ---- ClientExecutor ----
  bool coordinator() const override { return true; }

  Status TrainRound(const std::vector<ClientContext>& clients, const std::vector<int64_t>&,
                    const std::vector<float>& global, const LocalTrainFn&,
                    std::vector<ClientTrainResult>* results) override {
    results->assign(clients.size(), ClientTrainResult{});
    if (clients.empty()) return OkStatus();
    std::unique_lock<std::mutex> lock(mu_);
    if (ended_) return FailedPreconditionError("the run has already ended");
    const size_t k = clients.size();
    round_ = clients.front().round;
    if (o_.pause_before_round > 0 && round_ == o_.pause_before_round) {
      // The engine checkpoints a round before it asks for the next one, so
      // the run folder is settled while this waits.
      log_->Line("pausing before round " + std::to_string(round_) +
                 " (--pause-before-round): rounds up to " + std::to_string(round_ - 1) +
                 " are done; waiting to be stopped");
      while (!Stopped(stop_)) cv_.wait_for(lock, std::chrono::milliseconds(100));
      return CancelledError("runtime stopped while paused before round " + std::to_string(round_));
    }
    global_ = global;
    clients_ = clients;
    results_ = results;
    owner_.assign(k, -1);
    handed_.assign(k, false);
    filled_.assign(k, false);
    trained_by_.assign(k, "");
    failure_ = OkStatus();
    RoundLog rec;
    rec.round = round_;

    if (!started_) {
      // Before the first round, give every device the chance to join.
      const auto join_deadline = After(o_.join_timeout_seconds);
      while (LiveCount() < devices_.size() && Clock::now() < join_deadline) {
        if (Stopped(stop_))
          return CancelledError("runtime stopped before round " + std::to_string(round_));
        cv_.wait_for(lock, std::chrono::milliseconds(100));
      }
      started_ = true;
      for (size_t i = 0; i < devices_.size(); ++i) {
        if (!devices_[i].live) {
          log_->Line("device index " + std::to_string(i) + " did not join within " +
                     FormatSeconds(o_.join_timeout_seconds) + " s; " +
                     (owned_ ? "its clients wait for it" : "its clients go to the others"));
          rec.dropouts.push_back("index-" + std::to_string(i));
        }
      }
    }
    for (size_t s = 0; s < k; ++s) {
      const int64_t own = clients[s].client_id % static_cast<int64_t>(devices_.size());
      owner_[s] = owned_ || devices_[static_cast<size_t>(own)].live ? own : -1;
    }
    Redeal(&rec, /*count=*/false);
    // The timeout counts from the round's start, not from the device's last
    // round (evaluation in between may have been long).
    for (Device& d : devices_) d.last_seen = Clock::now();
    open_ = true;
    cv_.notify_all();
    log_->Line("round " + std::to_string(round_) + " open: " + std::to_string(k) + " clients, " +
               std::to_string(LiveCount()) + " devices");

    // While stalled (below), the round waits at most max_retries timeouts
    // for a device to (re)join; `waits` counts them.
    int64_t waits = 0;
    bool stalled = false;
    Clock::time_point wait_until;
    while (true) {
      if (std::all_of(filled_.begin(), filled_.end(), [](bool f) { return f; })) break;
      if (!failure_.ok()) {
        open_ = false;
        return failure_;
      }
      if (Stopped(stop_)) {
        open_ = false;
        return CancelledError("runtime stopped in round " + std::to_string(round_));
      }
      // Shared work nobody held (no device was left) goes to whoever (re)joined.
      if (LiveCount() > 0 && std::count(owner_.begin(), owner_.end(), -1) > 0) Redeal(&rec, false);
      const auto now = Clock::now();
      // A device holding unfinished work that has sent nothing for the
      // timeout is a dropout.
      for (size_t i = 0; i < devices_.size(); ++i) {
        Device& d = devices_[i];
        if (!d.live || !HoldsWork(static_cast<int64_t>(i))) continue;
        if (now - d.last_seen >
            std::chrono::milliseconds(static_cast<int64_t>(o_.round_timeout_seconds * 1000))) {
          d.live = false;
          rec.dropouts.push_back(d.name);
          log_->Line("round " + std::to_string(round_) + ": device " + d.name +
                     " dropped out (nothing for " + FormatSeconds(o_.round_timeout_seconds) +
                     " s); " +
                     (owned_ ? "its clients' data is its own, so they wait for it"
                             : "its clients are re-dealt"));
          for (size_t s = 0; s < k; ++s) {
            if (owner_[s] != static_cast<int64_t>(i) || filled_[s]) continue;
            // Owned: handed again should the device come back.
            if (owned_) {
              handed_[s] = false;
            } else {
              owner_[s] = -1;
            }
          }
          Redeal(&rec, /*count=*/true);
        }
      }
      if (!Stalled()) {
        stalled = false;
      } else {
        // Nobody taking part may train what is left. With owned data and
        // enough updates in, the absent devices' clients are missing now;
        // otherwise wait for a device to (re)join, a bounded number of times.
        const int64_t present = std::count(filled_.begin(), filled_.end(), true);
        if (owned_ && present >= floor_) {
          LeaveMissing(&rec);
          break;
        }
        if (!stalled) {
          stalled = true;
          wait_until = now;  // the first wait starts now
        }
        if (now >= wait_until) {
          if (waits >= o_.max_retries) {
            if (owned_ && present > 0) {
              // The engine applies federated.min_updates and names the counts.
              LeaveMissing(&rec);
              break;
            }
            open_ = false;
            log_->Line("round " + std::to_string(round_) + " failed: no device left");
            rounds_.push_back(rec);
            return UnavailableError(
                "round " + std::to_string(round_) + ": no device left to train its clients (" +
                std::to_string(waits) + " waits of " + FormatSeconds(o_.round_timeout_seconds) +
                " s for one to (re)join)");
          }
          ++waits;
          ++rec.attempts;
          log_->Line(
              "round " + std::to_string(round_) + ": " + std::to_string(present) + " updates in, " +
              (owned_ ? "fewer than " + std::to_string(floor_) + "; waiting for the " +
                            "absent devices to (re)join"
                      : "no device left; waiting for one to (re)join") +
              " (attempt " + std::to_string(waits) + " of " + std::to_string(o_.max_retries) + ")");
          wait_until = After(o_.round_timeout_seconds);
        }
      }
      cv_.wait_for(lock, std::chrono::milliseconds(100));
    }
    open_ = false;
    for (size_t s = 0; s < k; ++s) {
      if (filled_[s]) rec.trained[trained_by_[s]].push_back(clients[s].client_id);
    }
    rounds_.push_back(rec);
    log_->Line("round " + std::to_string(round_) + ": " + std::to_string(k - rec.missing.size()) +
               " client results gathered" +
               (rec.missing.empty()
                    ? std::string()
                    : ", " + std::to_string(rec.missing.size()) + " missing (device absent)"));
    return OkStatus();
  }

  void EndRun(const Status& status, const std::vector<float>& global) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (ended_) return;
    ended_ = true;
    open_ = false;
    end_status_ = status;
    final_ = global;
    cv_.notify_all();
    log_->Line(status.ok() ? "run done; serving the final model to the devices"
                           : "run failed: " + status.ToString());
  }

  Status Serve(const LocalTrainFn&, std::vector<float>*) override {
    return FailedPreconditionError("the runtime coordinates the federated run; it does not serve");
  }

  // Keeps serving the final model (or the failure) until every device taking
  // part has fetched it, or `seconds` passed.
  void Linger(double seconds) {
    std::unique_lock<std::mutex> lock(mu_);
    const auto until = After(seconds);
    while (Clock::now() < until && !Stopped(stop_)) {
      bool all = true;
      for (const Device& d : devices_) all = all && (!d.live || d.got_end);
      if (all) break;
      cv_.wait_for(lock, std::chrono::milliseconds(100));
    }
    stopping_ = true;
    cv_.notify_all();
  }

  // The run's record as JSON.
  std::string RecordJson(const experiments::RunResult* result, const Status& status) {
    std::lock_guard<std::mutex> lock(mu_);
    std::ostringstream out;
    std::set<std::string> dropouts;
    for (const RoundLog& r : rounds_) dropouts.insert(r.dropouts.begin(), r.dropouts.end());
    out << "{\n  \"flow\": \"federated\",\n  \"ok\": " << (status.ok() ? "true" : "false");
    if (!status.ok()) out << ",\n  \"error\": " << JsonString(status.ToString());
    out << ",\n  \"devices\": " << devices_.size()
        << ",\n  \"owned_clients\": " << (owned_ ? "true" : "false");
    if (result != nullptr) {
      out << ",\n  \"rounds_completed\": " << result->rounds.size()
          << ",\n  \"final_state_hash\": " << JsonString(result->final_state_hash)
          << ",\n  \"final_test_accuracy\": " << result->final_test_accuracy
          << ",\n  \"run_dir\": " << JsonString(result->run_dir);
    }
    out << ",\n  \"dropouts\": [";
    bool first = true;
    for (const std::string& d : dropouts) {
      out << (first ? "" : ", ") << JsonString(d);
      first = false;
    }
    out << "],\n  \"records\": [";
    for (size_t i = 0; i < rounds_.size(); ++i) {
      const RoundLog& r = rounds_[i];
      out << (i ? ",\n    " : "\n    ") << "{\"round\": " << r.round
          << ", \"attempts\": " << r.attempts << ", \"redealt\": " << r.redealt
          << ", \"dropouts\": [";
      for (size_t j = 0; j < r.dropouts.size(); ++j) {
        out << (j ? ", " : "") << JsonString(r.dropouts[j]);
      }
      out << "], \"missing\": [";
      for (size_t j = 0; j < r.missing.size(); ++j) out << (j ? ", " : "") << r.missing[j];
      out << "], \"trained\": {";
      bool f = true;
      for (const auto& [name, ids] : r.trained) {
        out << (f ? "" : ", ") << JsonString(name) << ": [";
        for (size_t j = 0; j < ids.size(); ++j) out << (j ? ", " : "") << ids[j];
        out << "]";
        f = false;
      }
      out << "}}";
    }
    out << "\n  ]\n}\n";
    return out.str();
  }

  // ---- RPCs (gRPC threads) ----
  grpc::Status GetWork(grpc::ServerContext* context, const confml::v1::WorkRequest* request,
                       grpc::ServerWriter<confml::v1::ModelChunk>* writer) override {
    std::string peer;
    if (grpc::Status s = RequireDevice(*context, "GetWork", &peer); !s.ok()) return s;
    if (Status v = CheckProtocolVersion(request->header(), "GetWork"); !v.ok()) {
      return Reject("GetWork", peer, v);
    }
    const int64_t n = static_cast<int64_t>(devices_.size());
    if (request->device_count() != n) {
      return Reject("GetWork", peer,
                    FailedPreconditionError("the device runs as one of " +
                                            std::to_string(request->device_count()) +
                                            " devices, this runtime deals clients to " +
                                            std::to_string(n) + " (--of must equal --devices)"));
    }
    const int64_t index = request->device_index();
    if (index < 0 || index >= n) {
      return Reject("GetWork", peer,
                    InvalidArgumentError("device index " + std::to_string(index) +
                                         " is not in [0, " + std::to_string(n) + ")"));
    }
    if (Bytes(request->config_digest().begin(), request->config_digest().end()) != digest_) {
      return Reject(
          "GetWork", peer,
          FailedPreconditionError(
              "the device's resolved config (digest " +
              ToHex(Bytes(request->config_digest().begin(), request->config_digest().end()))
                  .substr(0, 16) +
              "...) differs from the runtime's (" + ToHex(digest_).substr(0, 16) +
              "...): start every process with the same config "
              "and overrides"));
    }
    std::vector<float> state;
    confml::v1::ModelChunk meta;
    int64_t round = 0;
    bool final = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (Status b = Bind(index, peer); !b.ok()) return Reject("GetWork", peer, b);
      Rehand(index, peer);
      Device& d = devices_[static_cast<size_t>(index)];
      while (!ended_ && !(open_ && HasUnhanded(index))) {
        if (context->IsCancelled() || stopping_ || Stopped(stop_)) {
          return grpc::Status(grpc::StatusCode::CANCELLED, "runtime stopping");
        }
        cv_.wait_for(lock, std::chrono::milliseconds(200));
        d.last_seen = Clock::now();
        // Waiting for work is taking part: a device dropped while it was
        // away comes back here.
        if (!d.live || d.name != peer) {
          if (Status b = Bind(index, peer); !b.ok()) return Reject("GetWork", peer, b);
        }
      }
      d.last_seen = Clock::now();
      if (ended_) {
        d.got_end = true;
        cv_.notify_all();
        if (!end_status_.ok()) {
          return grpc::Status(grpc::StatusCode::ABORTED,
                              "the run failed at the runtime: " + end_status_.ToString());
        }
        state = final_;
        final = true;
        round = round_;
      } else {
        round = round_;
        for (size_t s = 0; s < clients_.size(); ++s) {
          if (owner_[s] != index || handed_[s] || filled_[s]) continue;
          handed_[s] = true;
          confml::v1::ClientTask* t = meta.add_tasks();
          t->set_client_id(clients_[s].client_id);
          t->set_slot(clients_[s].slot);
        }
        state = global_;
      }
    }
    Status sent = SendModel(writer, state, round, final, o_.chunk_bytes, &meta);
    if (!sent.ok()) {
      log_->Line("sending round " + std::to_string(round) + " to " + peer +
                 " failed: " + sent.ToString());
    } else if (!final) {
      log_->Line("round " + std::to_string(round) + ": " + std::to_string(meta.tasks_size()) +
                 " clients to " + peer);
    }
    return ToGrpc(sent);
  }

  grpc::Status PushResult(grpc::ServerContext* context,
                          grpc::ServerReader<confml::v1::ModelChunk>* reader,
                          confml::v1::Ack* reply) override {
    std::string peer;
    if (grpc::Status s = RequireDevice(*context, "PushResult", &peer); !s.ok()) return s;
    StatusOr<ReceivedModel> got = ReceiveModel(reader, o_.max_model_bytes, "result from " + peer);
    if (!got.ok()) return Reject("PushResult", peer, got.status());
    const confml::v1::ClientResult& r = got->meta.result();
    std::lock_guard<std::mutex> lock(mu_);
    if (!open_ || got->round != round_) {
      return Reject("PushResult", peer,
                    FailedPreconditionError("result for round " + std::to_string(got->round) +
                                            ", the open round is " +
                                            (open_ ? std::to_string(round_) : "none")));
    }
    size_t slot = clients_.size();
    for (size_t s = 0; s < clients_.size(); ++s) {
      if (clients_[s].client_id == r.client_id()) slot = s;
    }
    if (slot == clients_.size()) {
      return Reject("PushResult", peer,
                    InvalidArgumentError("client " + std::to_string(r.client_id()) +
                                         " does not take part in round " + std::to_string(round_)));
    }
    const int64_t owner = owner_[slot];
    if (owner < 0 || devices_[static_cast<size_t>(owner)].name != peer ||
        !devices_[static_cast<size_t>(owner)].live || !handed_[slot]) {
      return Reject(
          "PushResult", peer,
          FailedPreconditionError("client " + std::to_string(r.client_id()) + " of round " +
                                  std::to_string(round_) + " is not assigned to " + peer));
    }
    if (filled_[slot]) {
      return Reject(
          "PushResult", peer,
          AlreadyExistsError("client " + std::to_string(r.client_id()) + " already has a result"));
    }
    if (got->values.size() != global_.size()) {
      return Reject(
          "PushResult", peer,
          InvalidArgumentError("result has " + std::to_string(got->values.size()) +
                               " values, the model has " + std::to_string(global_.size())));
    }
    if (r.num_samples() < 0 || r.samples_seen() < 0) {
      return Reject("PushResult", peer, InvalidArgumentError("negative sample count"));
    }
    ClientTrainResult& out = (*results_)[slot];
    out.update.client_id = r.client_id();
    out.update.num_samples = r.num_samples();
    out.update.values = std::move(got->values);
    out.loss_sum = r.loss_sum();
    out.samples_seen = r.samples_seen();
    out.train_seconds = r.train_seconds();
    filled_[slot] = true;
    trained_by_[slot] = peer;
    devices_[static_cast<size_t>(owner)].last_seen = Clock::now();
    cv_.notify_all();
    reply->set_protocol_version(kProtocolVersion);
    reply->set_bytes_received(got->bytes);
    return grpc::Status::OK;
  }

  grpc::Status ReportFailure(grpc::ServerContext* context, const confml::v1::FailureReport* request,
                             confml::v1::Ack* reply) override {
    std::string peer;
    if (grpc::Status s = RequireDevice(*context, "ReportFailure", &peer); !s.ok()) return s;
    if (Status v = CheckProtocolVersion(request->header(), "ReportFailure"); !v.ok()) {
      return Reject("ReportFailure", peer, v);
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (open_ && request->round() == round_ && failure_.ok()) {
      int32_t code = request->code();
      if (code <= 0 || code > static_cast<int32_t>(StatusCode::kUnauthenticated)) {
        code = static_cast<int32_t>(StatusCode::kInternal);
      }
      failure_ =
          Status(static_cast<StatusCode>(code), request->message()).WithContext("device " + peer);
      log_->Line("round " + std::to_string(round_) + ": " + peer +
                 " failed to train: " + request->message());
      cv_.notify_all();
    }
    reply->set_protocol_version(kProtocolVersion);
    return grpc::Status::OK;
  }

  // model-provider -> runtime: the initial global state. Taken only once the
  // engine has said how large its model is, so a provider with another model
  // hears why it was refused.
  grpc::Status DeliverModel(grpc::ServerContext* context,
                            grpc::ServerReader<confml::v1::ModelChunk>* reader,
                            confml::v1::Ack* reply) override {
    std::string peer;
    const std::string role = PeerRole(*context, &peer);
    if (role != kRoleModelProvider) {
      const std::string msg = "DeliverModel is for role model-provider, the peer is '" + role + "'";
      log_->Line("rejected: " + msg);
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, msg);
    }
    StatusOr<ReceivedModel> got =
        ReceiveModel(reader, o_.max_model_bytes, "initial model from " + peer);
    if (!got.ok()) return Reject("DeliverModel", peer, got.status());
    const std::string& digest = got->meta.config_digest();
    if (Bytes(digest.begin(), digest.end()) != digest_) {
      return Reject("DeliverModel", peer,
                    FailedPreconditionError(
                        "the model-provider's resolved config (digest " +
                        ToHex(Bytes(digest.begin(), digest.end())).substr(0, 16) +
                        "...) differs from the runtime's (" + ToHex(digest_).substr(0, 16) +
                        "...): start every process with the same config and overrides"));
    }
    std::unique_lock<std::mutex> lock(mu_);
    const auto until = After(o_.model_timeout_seconds);
    while (expected_size_ == 0 && !ended_) {
      if (context->IsCancelled() || stopping_ || Stopped(stop_) || Clock::now() > until) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            "the runtime's engine is not ready for the model yet");
      }
      cv_.wait_for(lock, std::chrono::milliseconds(100));
    }
    if (ended_) {
      return Reject("DeliverModel", peer, FailedPreconditionError("the run has already ended"));
    }
    if (static_cast<int64_t>(got->values.size()) != expected_size_) {
      return Reject("DeliverModel", peer,
                    InvalidArgumentError(
                        "the initial model has " + std::to_string(got->values.size()) +
                        " floats, but this run's model '" + model_name_ + "' has " +
                        std::to_string(expected_size_) + " (another model or dataset shape?)"));
    }
    if (have_initial_) {
      // A provider that retried after a lost acknowledgement sends the same
      // state; anything else would change the run under way.
      if (got->values != initial_) {
        return Reject("DeliverModel", peer,
                      AlreadyExistsError("the run already started from another initial model"));
      }
    } else {
      initial_ = std::move(got->values);
      have_initial_ = true;
      cv_.notify_all();
      log_->Line("received the initial model from " + peer + " (" + std::to_string(got->bytes) +
                 " bytes in " + std::to_string(got->chunks) + " chunks)");
    }
    reply->set_protocol_version(kProtocolVersion);
    reply->set_bytes_received(got->bytes);
    return grpc::Status::OK;
  }

  // The engine's initial_state source (RunExperiment's thread): announces
  // the model's size, then waits for the model-provider's delivery.
  StatusOr<std::vector<float>> AwaitInitialModel(int64_t size) {
    std::unique_lock<std::mutex> lock(mu_);
    expected_size_ = size;
    cv_.notify_all();
    log_->Line("waiting for the initial model (" + std::to_string(size) +
               " floats) from the model-provider");
    const auto until = After(o_.model_timeout_seconds);
    while (!have_initial_) {
      if (Stopped(stop_)) return CancelledError("runtime stopped before the initial model came");
      if (Clock::now() > until) {
        log_->Line("no initial model within " + FormatSeconds(o_.model_timeout_seconds) + " s");
        return UnavailableError(
            "no model-provider delivered the initial model within " +
            FormatSeconds(o_.model_timeout_seconds) +
            " s (start `confml serve model-provider --config C --runtime ADDR`, or raise "
            "--model-timeout)");
      }
      cv_.wait_for(lock, std::chrono::milliseconds(100));
    }
    return initial_;
  }

 private:
  struct Device {
    std::string name;  // the certificate's CN; empty until it joined
    bool live = false;
    bool got_end = false;
    Clock::time_point last_seen;
  };

  static std::string FormatSeconds(double s) {
    std::ostringstream out;
    out << s;
    return out.str();
  }

  size_t LiveCount() const {
    return static_cast<size_t>(
        std::count_if(devices_.begin(), devices_.end(), [](const Device& d) { return d.live; }));
  }
  bool HoldsWork(int64_t index) const {
    for (size_t s = 0; s < owner_.size(); ++s) {
      if (owner_[s] == index && !filled_[s]) return true;
    }
    return false;
  }
  bool HasUnhanded(int64_t index) const {
    for (size_t s = 0; s < owner_.size(); ++s) {
      if (owner_[s] == index && !handed_[s] && !filled_[s]) return true;
    }
    return false;
  }
  // Some client is unfinished and no device taking part may train any of
  // them (shared data: no device is left; owned data: every unfinished
  // client's device is absent).
  bool Stalled() const {
    bool unfinished = false;
    for (size_t s = 0; s < owner_.size(); ++s) {
      if (filled_[s]) continue;
      unfinished = true;
      if (owner_[s] >= 0 && devices_[static_cast<size_t>(owner_[s])].live) return false;
    }
    return unfinished;
  }
  // Owned data: the unfinished clients' devices are absent and nobody else
  // may train them, so they go to the engine as missing slots.
  void LeaveMissing(RoundLog* rec) {
    for (size_t s = 0; s < owner_.size(); ++s) {
      if (filled_[s]) continue;
      (*results_)[s].missing = true;
      rec->missing.push_back(clients_[s].client_id);
      log_->Line("round " + std::to_string(round_) + ": client " +
                 std::to_string(clients_[s].client_id) + " is missing (device index " +
                 std::to_string(owner_[s]) + " absent; owned data is never re-dealt)");
    }
  }
  // A device asks for work only after it sent (or failed to send) the
  // results of what it holds, so what is still handed to it and unfilled
  // will never come: a process restarted with the same index, or a push was
  // lost. Hand it again; otherwise the round would wait for it for ever, as
  // the device's waiting for work keeps it from timing out.
  void Rehand(int64_t index, const std::string& peer) {
    if (!open_) return;
    for (size_t s = 0; s < owner_.size(); ++s) {
      if (owner_[s] != index || !handed_[s] || filled_[s]) continue;
      handed_[s] = false;
      log_->Line("round " + std::to_string(round_) + ": client " +
                 std::to_string(clients_[s].client_id) + " handed to " + peer +
                 " again (it asked for work without sending that client's result)");
    }
  }
  // Unowned, unfinished clients go round robin to the live devices (with
  // owned data no client is ever unowned).
  void Redeal(RoundLog* rec, bool count) {
    std::vector<int64_t> live;
    for (size_t i = 0; i < devices_.size(); ++i) {
      if (devices_[i].live) live.push_back(static_cast<int64_t>(i));
    }
    if (trained_by_.size() != owner_.size()) trained_by_.assign(owner_.size(), "");
    if (live.empty()) return;
    size_t next = 0;
    for (size_t s = 0; s < owner_.size(); ++s) {
      if (owner_[s] != -1 || filled_[s]) continue;
      owner_[s] = live[next++ % live.size()];
      handed_[s] = false;
      if (count) ++rec->redealt;
    }
    if (next > 0) cv_.notify_all();
  }
  // Binds `peer` to device index `index` (mu_ held).
  Status Bind(int64_t index, const std::string& peer) {
    for (size_t i = 0; i < devices_.size(); ++i) {
      if (static_cast<int64_t>(i) != index && devices_[i].live && devices_[i].name == peer) {
        return AlreadyExistsError(peer + " already takes part as device index " +
                                  std::to_string(i));
      }
    }
    Device& d = devices_[static_cast<size_t>(index)];
    if (d.live && d.name != peer) {
      return AlreadyExistsError("device index " + std::to_string(index) + " is taken by " + d.name);
    }
    if (!d.live) {
      log_->Line("device " + peer + " joined as index " + std::to_string(index) + " of " +
                 std::to_string(devices_.size()));
    }
    d.name = peer;
    d.live = true;
    d.got_end = false;
    d.last_seen = Clock::now();
    cv_.notify_all();
    return OkStatus();
  }

  grpc::Status RequireDevice(const grpc::ServerContext& context, const std::string& rpc,
                             std::string* peer) {
    const std::string role = PeerRole(context, peer);
    if (role == kRoleDevice) return grpc::Status::OK;
    const std::string msg = rpc + " is for role device, the peer is '" + role + "'";
    log_->Line("rejected: " + msg);
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, msg);
  }
  grpc::Status Reject(const std::string& rpc, const std::string& peer, const Status& why) {
    log_->Line("rejected " + rpc + " from " + peer + ": " + why.ToString());
    return ToGrpc(why);
  }
  const RuntimeOptions& o_;
  std::shared_ptr<Logger> log_;
  const std::atomic<bool>* stop_;
  const Bytes digest_;
  std::string model_name_;  // for the size check's message
  const bool owned_;
  const int64_t floor_;  // updates a round waits for before leaving owned clients missing

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Device> devices_;
  bool started_ = false;
  bool open_ = false;
  bool ended_ = false;
  bool stopping_ = false;
  Status end_status_;
  std::vector<float> final_;
  int64_t round_ = 0;
  std::vector<float> global_;
  std::vector<ClientContext> clients_;
  std::vector<int64_t> owner_;  // device index per slot; -1: nobody (yet)
  std::vector<bool> handed_, filled_;
  std::vector<std::string> trained_by_;
  std::vector<ClientTrainResult>* results_ = nullptr;  // the engine's, while open_
  Status failure_;
  std::vector<RoundLog> rounds_;
  int64_t expected_size_ = 0;  // the engine's model size; 0 until it asked
  bool have_initial_ = false;
  std::vector<float> initial_;
};

// The device side: the engine on this process is a worker (coordinator()
// false), so RunExperiment calls Serve, which trains what the runtime hands
// this device until the runtime ends the run.
class DeviceExecutor final : public ClientExecutor {
 public:
  DeviceExecutor(const DeviceOptions& o, PartyProcess& p, Bytes digest,
                 const std::atomic<bool>* stop)
      : o_(o), p_(p), digest_(std::move(digest)), stop_(stop), stub_(RuntimeStub(p, o.runtime)) {}

  bool coordinator() const override { return false; }
  Status TrainRound(const std::vector<ClientContext>&, const std::vector<int64_t>&,
                    const std::vector<float>&, const LocalTrainFn&,
                    std::vector<ClientTrainResult>*) override {
    return FailedPreconditionError("a device does not coordinate rounds");
  }
  void EndRun(const Status&, const std::vector<float>&) override {}

  Status Serve(const LocalTrainFn& local, std::vector<float>* final_global) override {
    auto reachable_until = After(o_.connect_timeout_seconds);
    while (true) {
      confml::v1::WorkRequest req;
      req.mutable_header()->set_protocol_version(kProtocolVersion);
      req.set_device_index(o_.index);
      req.set_device_count(o_.count);
      req.set_config_digest(std::string(digest_.begin(), digest_.end()));
      StatusOr<ReceivedModel> got = FetchFromRuntime(
          [&](grpc::ClientContext* ctx) { return stub_->GetWork(ctx, req); }, kMaxModelBytes,
          "work", o_.runtime, o_.reconnect_seconds, &reachable_until, *p_.log, stop_);
      if (!got.ok()) return got.status();
      if (got->final) {
        p_.log->Line("final global model after round " + std::to_string(got->round));
        *final_global = std::move(got->values);
        return OkStatus();
      }
      std::vector<ClientContext> mine;
      for (const confml::v1::ClientTask& t : got->meta.tasks()) {
        mine.push_back(ClientContext{got->round, t.client_id(), t.slot()});
      }
      std::vector<ClientTrainResult> results;
      Status trained = CheckOwnClients(p_.scenario.owned_clients, o_.index, o_.count, mine);
      // Local training runs inside this device's realm.
      if (trained.ok()) {
        trained = p_.party->realm().Run(
            [&](RealmContext&) -> Status { return local(mine, got->values, &results); });
      }
      if (trained.ok() && results.size() != mine.size()) {
        trained = InternalError("the engine trained " + std::to_string(results.size()) + " of " +
                                std::to_string(mine.size()) + " clients");
      }
      if (!trained.ok()) {
        p_.log->Line("round " + std::to_string(got->round) +
                     ": training failed: " + trained.ToString());
        confml::v1::FailureReport f;
        f.mutable_header()->set_protocol_version(kProtocolVersion);
        f.set_round(got->round);
        f.set_code(static_cast<int32_t>(trained.code()));
        f.set_message(trained.message());
        grpc::ClientContext fctx;
        fctx.set_deadline(In(30));
        confml::v1::Ack ack;
        (void)stub_->ReportFailure(&fctx, f, &ack);
        continue;  // The next GetWork brings the run's end (ABORTED).
      }
      int64_t sent = 0;
      for (const ClientTrainResult& r : results) {
        confml::v1::ModelChunk meta;
        confml::v1::ClientResult* m = meta.mutable_result();
        m->set_client_id(r.update.client_id);
        m->set_num_samples(r.update.num_samples);
        m->set_loss_sum(r.loss_sum);
        m->set_samples_seen(r.samples_seen);
        m->set_train_seconds(r.train_seconds);
        grpc::ClientContext uctx;
        uctx.set_deadline(In(std::max(30.0, o_.connect_timeout_seconds)));
        confml::v1::Ack ack;
        auto writer = stub_->PushResult(&uctx, &ack);
        Status s =
            SendModel(writer.get(), r.update.values, got->round, false, o_.chunk_bytes, &meta);
        writer->WritesDone();
        grpc::Status us = writer->Finish();
        if (us.ok()) {
          ++sent;
        } else {
          p_.log->Line("round " + std::to_string(got->round) + ": result of client " +
                       std::to_string(r.update.client_id) + " not taken: " + us.error_message());
        }
      }
      ++rounds_trained_;
      clients_trained_ += sent;
      p_.log->Line("round " + std::to_string(got->round) + ": trained " +
                   std::to_string(mine.size()) + " clients, " + std::to_string(sent) +
                   " results taken");
    }
  }

  int64_t rounds_trained() const { return rounds_trained_; }
  int64_t clients_trained() const { return clients_trained_; }

 private:
  const DeviceOptions& o_;
  PartyProcess& p_;
  const Bytes digest_;
  const std::atomic<bool>* stop_;
  std::unique_ptr<confml::v1::Runtime::Stub> stub_;
  int64_t rounds_trained_ = 0;
  int64_t clients_trained_ = 0;
};

// The model-provider's way to the initial state: it runs the experiment
// exactly as the runtime will (same data, partition, model, seed path, or
// federated.initial_model from its own disk) as a coordinator, and stops the
// run at its first round, whose starting state is the engine's initial one.
// Going through the engine, rather than re-deriving its seeds here, keeps the
// state bitwise the one `confml run` starts from.
class InitialStateCapture final : public ClientExecutor {
 public:
  bool coordinator() const override { return true; }
  Status TrainRound(const std::vector<ClientContext>&, const std::vector<int64_t>&,
                    const std::vector<float>& global, const LocalTrainFn&,
                    std::vector<ClientTrainResult>*) override {
    if (!captured_) state_ = global;
    captured_ = true;
    return CancelledError("the model-provider only needs the initial state");
  }
  void EndRun(const Status&, const std::vector<float>&) override {}
  Status Serve(const LocalTrainFn&, std::vector<float>*) override {
    return FailedPreconditionError("the model-provider does not serve rounds");
  }

  bool captured() const { return captured_; }
  std::vector<float>& state() { return state_; }

 private:
  bool captured_ = false;
  std::vector<float> state_;
};

}  // namespace

// In a deployment a device holds no one else's data (see net_internal.h).
Status CheckOwnClients(bool owned_clients, int64_t index, int64_t count,
                       const std::vector<ClientContext>& tasks) {
  if (!owned_clients) return OkStatus();
  for (const ClientContext& c : tasks) {
    if (c.client_id % count != index) {
      return FailedPreconditionError("device index " + std::to_string(index) + " of " +
                                     std::to_string(count) + " was handed client " +
                                     std::to_string(c.client_id) +
                                     ", whose data is another device's own (partition 'owned')");
    }
  }
  return OkStatus();
}

}  // namespace confml::net::internal

namespace confml::net {

using internal::PartyProcess;

Status RunModelProvider(const ModelProviderOptions& options, const std::atomic<bool>* stop) {
  if (options.runtime.empty()) return InvalidArgumentError("--runtime ADDR is required");
  CONFML_ASSIGN_OR_RETURN(
      PartyProcess p, internal::StartParty(options, options, std::string(kRoleModelProvider), stop,
                                           options.connect_timeout_seconds));
  const experiments::ExperimentConfig& config = *p.scenario.experiment;
  const std::string from = config.String("federated", "initial_model");
  p.log->Line("building the initial model of " + options.config_path +
              (from.empty() ? " from the config's seed" : " from " + from));
  auto capture = std::make_shared<internal::InitialStateCapture>();
  experiments::RunOptions run;
  run.client_executor = capture;
  run.write_run_dir = false;
  run.progress = experiments::ProgressMode::kNone;
  StatusOr<experiments::RunResult> built = experiments::RunExperiment(config, run);
  if (!capture->captured()) {
    Status why = built.ok() ? InternalError(
                                  "the engine ran no round, so it never handed out "
                                  "its initial state")
                            : built.status();
    p.log->Line("could not build the initial model: " + why.ToString());
    return why;
  }
  const std::vector<float>& values = capture->state();
  p.log->Line("initial model: " + std::to_string(values.size()) + " floats");
  confml::v1::ModelChunk meta;
  const Bytes digest = internal::ConfigDigest(config);
  meta.set_config_digest(std::string(digest.begin(), digest.end()));
  return internal::ReleaseModel(p, options.runtime, values, meta, options.chunk_bytes,
                                options.connect_timeout_seconds, stop);
}

Status ServeRuntime(const RuntimeOptions& options, const std::atomic<bool>* stop) {
  CONFML_ASSIGN_OR_RETURN(PartyProcess p,
                          internal::StartParty(options, options, std::string(kRoleRuntime), stop));
  const experiments::ExperimentConfig& config = *p.scenario.experiment;
  internal::RuntimeExecutor::Setup setup;
  setup.devices = options.expected_devices > 0 ? options.expected_devices : 2;
  CONFML_RETURN_IF_ERROR(internal::CheckOwnedDeviceCount(p.scenario, setup.devices, "--devices"));
  const int64_t devices = setup.devices;
  setup.digest = internal::ConfigDigest(config);
  setup.model_name = config.section("model").component;
  setup.owned = p.scenario.owned_clients;
  setup.min_updates = config.Int("federated", "min_updates");
  auto executor =
      std::make_shared<internal::RuntimeExecutor>(options, p.log, std::move(setup), stop);
  // The model-provider connects too: it owns the initial model.
  auto client_check =
      grpc::experimental::ExternalCertificateVerifier::Create<internal::AttestedPeerVerifier>(
          p.trust,
          std::vector<std::string>{std::string(kRoleDevice), std::string(kRoleModelProvider)},
          p.log);
  CONFML_ASSIGN_OR_RETURN(
      internal::ListeningServer listening,
      internal::StartServer(options.listen, p.identity, client_check, executor.get(),
                            options.max_message_bytes, options.ready_file));
  std::unique_ptr<grpc::Server>& server = listening.server;
  const std::string& addr = listening.address;
  p.log->Line("serving the federated flow of " + options.config_path + " on " + addr + " for " +
              std::to_string(devices) + " devices" +
              (p.scenario.owned_clients ? " (owned data: device i trains client i only)" : ""));

  experiments::RunOptions run;
  run.client_executor = executor;
  run.initial_state = [executor](int64_t size) { return executor->AwaitInitialModel(size); };
  run.resume_dir = options.resume_dir;
  run.progress = experiments::ProgressMode::kLines;  // to stderr
  run.command_line = {"confml",
                      "serve",
                      "runtime",
                      "--config",
                      options.config_path,
                      "--devices",
                      std::to_string(devices)};
  for (const std::string& o : options.overrides) run.command_line.push_back("--set " + o);
  StatusOr<experiments::RunResult> result = experiments::RunExperiment(config, run);
  // A failure before the engine's first round never reached EndRun.
  executor->EndRun(result.ok() ? OkStatus() : result.status(), {});
  if (result.ok()) {
    p.log->Line("final model " + result->final_state_hash + ", test accuracy " +
                std::to_string(result->final_test_accuracy) + ", run folder " + result->run_dir);
  }
  executor->Linger(options.linger_seconds);
  if (!options.results_out.empty()) {
    Status w = WriteFileAtomically(
        options.results_out,
        executor->RecordJson(result.ok() ? &*result : nullptr, result.status()));
    if (!w.ok()) p.log->Line("could not write results: " + w.ToString());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the last streams finish
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  p.log->Line(result.ok() ? "stopped" : "stopped: " + result.status().ToString());
  return result.status();
}

StatusOr<DeviceReport> RunDevice(const DeviceOptions& options, const std::atomic<bool>* stop) {
  if (options.runtime.empty()) return InvalidArgumentError("--runtime ADDR is required");
  if (options.count < 1 || options.index < 0 || options.index >= options.count) {
    return InvalidArgumentError("device --index must be in [0, --of)");
  }
  CONFML_ASSIGN_OR_RETURN(PartyProcess p,
                          internal::StartParty(options, options, std::string(kRoleDevice), stop,
                                               options.connect_timeout_seconds));
  CONFML_RETURN_IF_ERROR(internal::CheckOwnedDeviceCount(p.scenario, options.count, "--of"));
  const experiments::ExperimentConfig& config = *p.scenario.experiment;
  auto executor =
      std::make_shared<internal::DeviceExecutor>(options, p, internal::ConfigDigest(config), stop);
  experiments::RunOptions run;
  run.client_executor = executor;
  run.write_run_dir = false;
  run.progress = experiments::ProgressMode::kNone;
  p.log->Line("device index " + std::to_string(options.index) + " of " +
              std::to_string(options.count) + ": building the experiment of " +
              options.config_path);
  CONFML_ASSIGN_OR_RETURN(experiments::RunResult result, experiments::RunExperiment(config, run));
  DeviceReport report;
  report.rounds_trained = executor->rounds_trained();
  report.clients_trained = executor->clients_trained();
  report.final_state_hash = result.final_state_hash;
  p.log->Line("done: trained " + std::to_string(report.clients_trained) + " clients in " +
              std::to_string(report.rounds_trained) + " rounds; final model " +
              report.final_state_hash);
  return report;
}

}  // namespace confml::net
