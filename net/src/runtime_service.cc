// `confml serve runtime`: the FL runtime as a process. It takes the initial
// model from the attested model-provider, hands each round's global model to
// attested devices, collects their updates, and aggregates (FedAvg) in its
// own process. Dropouts, retries, checkpoints and message checks live here.
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "confml/core/aggregator.h"
#include "confml/core/file_util.h"
#include "confml/core/model.h"
#include "net_common.h"
#include "net_internal.h"

namespace confml::net {
namespace {

using internal::Logger;

constexpr std::string_view kCheckpointMagic = "CONFML-NETCKPT";
constexpr uint32_t kCheckpointVersion = 1;

struct RoundRecord {
  int64_t round = 0;
  int64_t attempt = 0;
  std::vector<std::string> updates;   // devices whose update was used
  std::vector<std::string> dropouts;  // devices that took part but sent nothing
  bool completed = false;
};

std::string RecordJson(const RoundRecord& r) {
  auto list = [](const std::vector<std::string>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", \"" : "\"") + v[i] + "\"";
    return out + "]";
  };
  return "{\"round\": " + std::to_string(r.round) + ", \"attempt\": " + std::to_string(r.attempt) +
         ", \"completed\": " + (r.completed ? "true" : "false") +
         ", \"updates\": " + list(r.updates) + ", \"dropouts\": " + list(r.dropouts) + "}";
}

class RuntimeService final : public confml::v1::Runtime::Service {
 public:
  RuntimeService(const RuntimeOptions& o, std::shared_ptr<Logger> log, ModelPtr model)
      : o_(o), log_(std::move(log)), model_(std::move(model)) {}

  // ---- RPCs ----
  grpc::Status DeliverModel(grpc::ServerContext* context,
                            grpc::ServerReader<confml::v1::ModelChunk>* reader,
                            confml::v1::Ack* reply) override {
    std::string peer;
    if (grpc::Status s = RequireRole(*context, "model-provider", "DeliverModel", &peer); !s.ok()) {
      return s;
    }
    StatusOr<internal::ReceivedModel> got =
        internal::ReceiveModel(reader, o_.max_model_bytes, "model from " + peer);
    if (!got.ok()) return Reject("DeliverModel", peer, got.status());
    std::lock_guard<std::mutex> lock(mu_);
    if (!have_model_) {
      Status loaded = LoadFlatState(*model_, got->values);
      if (!loaded.ok()) return Reject("DeliverModel", peer, loaded);
      global_ = got->values;
      have_model_ = true;
      cv_.notify_all();
      log_->Line("received the model from " + peer + " (" + std::to_string(got->bytes) +
                 " bytes in " + std::to_string(got->chunks) + " chunks)");
    } else {
      log_->Line("model from " + peer + " ignored: already have one (resumed from checkpoint)");
    }
    reply->set_protocol_version(kProtocolVersion);
    reply->set_bytes_received(got->bytes);
    return grpc::Status::OK;
  }

  grpc::Status GetGlobalModel(grpc::ServerContext* context,
                              const confml::v1::GlobalRequest* request,
                              grpc::ServerWriter<confml::v1::ModelChunk>* writer) override {
    std::string peer;
    if (grpc::Status s = RequireRole(*context, "device", "GetGlobalModel", &peer); !s.ok())
      return s;
    if (grpc::Status v = CheckVersion(request->header(), "GetGlobalModel", peer); !v.ok()) return v;
    std::vector<float> model;
    int64_t round = 0;
    bool final = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (known_.insert(peer).second) {
        log_->Line("device " + peer + " joined");
        cv_.notify_all();
      }
      // A device gets the open round's model once per attempt; it waits
      // while the round it already sent an update for is still open.
      while (!done_ && !(open_ && !updates_.count(peer))) {
        if (context->IsCancelled() || stopping_) {
          return grpc::Status(grpc::StatusCode::CANCELLED, "runtime stopping");
        }
        cv_.wait_for(lock, std::chrono::milliseconds(200));
      }
      model = global_;
      round = round_;
      final = done_;
      if (final) final_fetched_.insert(peer);
      cv_.notify_all();
    }
    Status sent = internal::SendModel(writer, model, round, final, 0, o_.chunk_bytes);
    if (!sent.ok()) log_->Line("sending the model to " + peer + " failed: " + sent.ToString());
    return internal::ToGrpc(sent);
  }

  grpc::Status PushUpdate(grpc::ServerContext* context,
                          grpc::ServerReader<confml::v1::ModelChunk>* reader,
                          confml::v1::Ack* reply) override {
    std::string peer;
    if (grpc::Status s = RequireRole(*context, "device", "PushUpdate", &peer); !s.ok()) return s;
    StatusOr<internal::ReceivedModel> got =
        internal::ReceiveModel(reader, o_.max_model_bytes, "update from " + peer);
    if (!got.ok()) return Reject("PushUpdate", peer, got.status());
    std::lock_guard<std::mutex> lock(mu_);
    if (got->values.size() != global_.size()) {
      return Reject(
          "PushUpdate", peer,
          InvalidArgumentError("update has " + std::to_string(got->values.size()) +
                               " values, the model has " + std::to_string(global_.size())));
    }
    for (float v : got->values) {
      if (!std::isfinite(v)) {
        return Reject("PushUpdate", peer, InvalidArgumentError("update has a non-finite value"));
      }
    }
    if (!open_ || got->round != round_) {
      return Reject("PushUpdate", peer,
                    FailedPreconditionError("update for round " + std::to_string(got->round) +
                                            ", the open round is " +
                                            (open_ ? std::to_string(round_) : "none")));
    }
    if (got->num_samples < 0) {
      return Reject("PushUpdate", peer, InvalidArgumentError("negative sample count"));
    }
    ClientUpdate u;
    u.num_samples = got->num_samples;
    u.values = std::move(got->values);
    updates_[peer] = std::move(u);
    known_.insert(peer);
    cv_.notify_all();
    reply->set_protocol_version(kProtocolVersion);
    reply->set_bytes_received(got->bytes);
    log_->Line("round " + std::to_string(round_) + ": update from " + peer + " (" +
               std::to_string(got->bytes) + " bytes)");
    return grpc::Status::OK;
  }

  // ---- the round loop (runs on the main thread) ----
  Status Run(const std::atomic<bool>* stop) {
    CONFML_RETURN_IF_ERROR(LoadCheckpoint());
    std::unique_lock<std::mutex> lock(mu_);
    auto stopped = [&] { return internal::Stopped(stop); };
    while (!have_model_) {
      if (stopped()) return Stopping(lock);
      cv_.wait_for(lock, std::chrono::milliseconds(200));
    }
    const int64_t expected = o_.expected_devices > 0 ? o_.expected_devices : 2;
    const auto join_deadline = Deadline();
    while (static_cast<int64_t>(known_.size()) < expected) {
      if (stopped()) return Stopping(lock);
      if (std::chrono::steady_clock::now() > join_deadline &&
          static_cast<int64_t>(known_.size()) >= o_.min_clients) {
        break;
      }
      cv_.wait_for(lock, std::chrono::milliseconds(200));
    }
    int64_t attempt = 0;
    while (round_ < rounds_) {
      if (o_.pause_before_round > 0 && round_ == o_.pause_before_round) {
        // The previous round's checkpoint is on disk: a kill from here on
        // always leaves the same state.
        log_->Line("pausing before round " + std::to_string(round_) +
                   " (--pause-before-round): rounds up to " + std::to_string(round_ - 1) +
                   " are done; waiting to be stopped");
        while (!stopped()) cv_.wait_for(lock, std::chrono::milliseconds(100));
        return Stopping(lock);
      }
      updates_.clear();
      open_ = true;
      cv_.notify_all();
      log_->Line("round " + std::to_string(round_) + " open (attempt " + std::to_string(attempt) +
                 ", " + std::to_string(known_.size()) + " devices taking part)");
      const auto deadline = Deadline();
      // Close early only when every device taking part has sent and that is
      // enough; otherwise wait out the timeout, so that a retry gives devices
      // that dropped (or restarted) time to come back.
      while (!(AllSent() && static_cast<int64_t>(updates_.size()) >= o_.min_clients) &&
             std::chrono::steady_clock::now() < deadline) {
        if (stopped()) return Stopping(lock);
        cv_.wait_for(lock, std::chrono::milliseconds(100));
      }
      open_ = false;
      RoundRecord rec;
      rec.round = round_;
      rec.attempt = attempt;
      for (const auto& [name, u] : updates_) rec.updates.push_back(name);
      for (const std::string& d : std::set<std::string>(known_)) {
        if (!updates_.count(d)) {
          rec.dropouts.push_back(d);
          known_.erase(d);
          log_->Line("round " + std::to_string(round_) + ": device " + d +
                     " dropped out (no update within " + std::to_string(o_.round_timeout_seconds) +
                     " s)");
        }
      }
      if (static_cast<int64_t>(updates_.size()) >= o_.min_clients && !updates_.empty()) {
        std::vector<ClientUpdate> ordered;
        for (const auto& [name, u] : updates_) ordered.push_back(u);  // fixed (name) order
        std::vector<float> mean;
        CONFML_RETURN_IF_ERROR(AggregateFedAvg(ordered, /*weighted=*/true, &mean));
        for (size_t i = 0; i < global_.size(); ++i) global_[i] += mean[i];
        rec.completed = true;
        log_->Line("round " + std::to_string(round_) + " aggregated (FedAvg of " +
                   std::to_string(ordered.size()) + " updates)");
        ++round_;
        attempt = 0;
      } else {
        log_->Line("round " + std::to_string(round_) + ": " + std::to_string(updates_.size()) +
                   " updates, fewer than min_clients " + std::to_string(o_.min_clients) +
                   "; retrying");
        if (++attempt > o_.max_retries) {
          records_.push_back(rec);
          WriteResults();
          return UnavailableError("round " + std::to_string(round_) + " failed " +
                                  std::to_string(attempt) + " times: not enough devices");
        }
      }
      records_.push_back(rec);
      CONFML_RETURN_IF_ERROR(SaveCheckpoint());
    }
    done_ = true;
    cv_.notify_all();
    CONFML_RETURN_IF_ERROR(LoadFlatState(*model_, global_));
    final_hash_ = StateHash(*model_);
    log_->Line("training done: " + std::to_string(rounds_) + " rounds; final model " + final_hash_);
    WriteResults();
    // Serve the final model until every device still taking part has it.
    const auto linger = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(o_.linger_seconds * 1000));
    while (std::chrono::steady_clock::now() < linger && !stopped()) {
      bool all = true;
      for (const std::string& d : known_) all = all && final_fetched_.count(d);
      if (all) break;
      cv_.wait_for(lock, std::chrono::milliseconds(100));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the last streams finish
    return OkStatus();
  }

  void set_rounds(int64_t rounds) { rounds_ = rounds; }
  void Stop() {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }

 private:
  std::chrono::steady_clock::time_point Deadline() const {
    return std::chrono::steady_clock::now() +
           std::chrono::milliseconds(static_cast<int64_t>(o_.round_timeout_seconds * 1000));
  }
  bool AllSent() const {
    if (known_.empty()) return false;
    for (const std::string& d : known_) {
      if (!updates_.count(d)) return false;
    }
    return true;
  }
  Status Stopping(std::unique_lock<std::mutex>&) {
    stopping_ = true;
    cv_.notify_all();
    return CancelledError("runtime stopped at round " + std::to_string(round_));
  }

  grpc::Status RequireRole(const grpc::ServerContext& context, const std::string& role,
                           const std::string& rpc, std::string* peer) {
    const std::string got = internal::PeerRole(context, peer);
    if (got == role) return grpc::Status::OK;
    const std::string msg = rpc + " is for role " + role + ", the peer is '" + got + "'";
    log_->Line("rejected: " + msg);
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, msg);
  }
  grpc::Status CheckVersion(const confml::v1::Header& h, const std::string& rpc,
                            const std::string& peer) {
    Status s = internal::CheckProtocolVersion(h, rpc);
    if (s.ok()) return grpc::Status::OK;
    return Reject(rpc, peer, s);
  }
  grpc::Status Reject(const std::string& rpc, const std::string& peer, const Status& why) {
    log_->Line("rejected " + rpc + " from " + peer + ": " + why.ToString());
    return internal::ToGrpc(why);
  }

  Status SaveCheckpoint() {
    if (o_.checkpoint.empty()) return OkStatus();
    std::string text(kCheckpointMagic);
    auto put = [&](uint64_t v) {
      for (int s = 56; s >= 0; s -= 8) text.push_back(static_cast<char>(v >> s));
    };
    put(kCheckpointVersion);
    put(static_cast<uint64_t>(round_));
    put(global_.size());
    const size_t at = text.size();
    text.resize(at + global_.size() * sizeof(float));
    std::memcpy(text.data() + at, global_.data(), global_.size() * sizeof(float));
    std::string records;
    for (const RoundRecord& r : records_) records += RecordJson(r) + "\n";
    put(records.size());
    text += records;
    return WriteFileAtomically(o_.checkpoint, text);
  }

  Status LoadCheckpoint() {
    if (o_.checkpoint.empty()) return OkStatus();
    StatusOr<std::string> text = ReadFileText(o_.checkpoint);
    if (!text.ok()) return OkStatus();  // no checkpoint yet: a fresh run
    const std::string& t = *text;
    size_t pos = kCheckpointMagic.size();
    auto get = [&](uint64_t* v) {
      if (t.size() - pos < 8) return false;
      *v = 0;
      for (int i = 0; i < 8; ++i) *v = (*v << 8) | static_cast<uint8_t>(t[pos++]);
      return true;
    };
    const Status bad = DataLossError("checkpoint " + o_.checkpoint + " is malformed or truncated");
    if (t.compare(0, kCheckpointMagic.size(), kCheckpointMagic) != 0) {
      return DataLossError("checkpoint " + o_.checkpoint + " is not a confml net checkpoint");
    }
    uint64_t version = 0, round = 0, n = 0, records = 0;
    if (!get(&version)) return bad;
    if (version != kCheckpointVersion) {
      return DataLossError("checkpoint " + o_.checkpoint + " has version " +
                           std::to_string(version));
    }
    if (!get(&round) || !get(&n) || n != FlatState(*model_).size() ||
        t.size() - pos < n * sizeof(float)) {
      return bad;
    }
    std::vector<float> values(n);
    std::memcpy(values.data(), t.data() + pos, n * sizeof(float));
    pos += n * sizeof(float);
    if (!get(&records) || t.size() - pos != records) return bad;
    std::lock_guard<std::mutex> lock(mu_);
    global_ = std::move(values);
    round_ = static_cast<int64_t>(round);
    have_model_ = true;
    resumed_records_ = t.substr(pos);
    log_->Line("resumed from checkpoint " + o_.checkpoint + " at round " + std::to_string(round_));
    return OkStatus();
  }

  void WriteResults() {
    if (o_.results_out.empty()) return;
    std::string rounds = resumed_records_;
    std::set<std::string> dropouts;
    for (const RoundRecord& r : records_) {
      rounds += RecordJson(r) + "\n";
      dropouts.insert(r.dropouts.begin(), r.dropouts.end());
    }
    // Records were kept one per line; make them a JSON array.
    std::string array;
    std::istringstream lines(rounds);
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      array += (array.empty() ? "\n    " : ",\n    ") + line;
      size_t at = line.find("\"dropouts\": [");
      if (at != std::string::npos) {
        std::string rest = line.substr(at + 13);
        for (size_t q = rest.find('"'); q != std::string::npos && rest[0] != ']';
             q = rest.find('"')) {
          size_t e = rest.find('"', q + 1);
          if (e == std::string::npos) break;
          dropouts.insert(rest.substr(q + 1, e - q - 1));
          rest = rest.substr(e + 1);
          if (!rest.empty() && rest[0] == ']') break;
        }
      }
    }
    std::string drop_list;
    for (const std::string& d : dropouts)
      drop_list += (drop_list.empty() ? "\"" : ", \"") + d + "\"";
    std::string json = "{\n  \"rounds_completed\": " + std::to_string(round_) +
                       ",\n  \"rounds_planned\": " + std::to_string(rounds_) +
                       ",\n  \"final_state_hash\": \"" + final_hash_ + "\"" +
                       ",\n  \"dropouts\": [" + drop_list + "]" + ",\n  \"records\": [" + array +
                       "\n  ]\n}\n";
    Status s = WriteFileAtomically(o_.results_out, json);
    if (!s.ok()) log_->Line("could not write results: " + s.ToString());
  }

  const RuntimeOptions& o_;
  std::shared_ptr<Logger> log_;
  ModelPtr model_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool have_model_ = false;
  bool open_ = false;
  bool done_ = false;
  bool stopping_ = false;
  int64_t round_ = 0;
  int64_t rounds_ = 0;
  std::vector<float> global_;
  std::set<std::string> known_;
  std::set<std::string> final_fetched_;
  std::map<std::string, ClientUpdate> updates_;
  std::vector<RoundRecord> records_;
  std::string resumed_records_;
  std::string final_hash_;
};

}  // namespace

Status ServeRuntime(const RuntimeOptions& options, const std::atomic<bool>* stop) {
  CONFML_ASSIGN_OR_RETURN(internal::PartyProcess p,
                          internal::StartParty(options, options, std::string(kRoleRuntime), stop));
  if (p.scenario.federated) return internal::ServeFederatedRuntime(options, p, stop);
  CONFML_ASSIGN_OR_RETURN(ModelPtr model,
                          internal::WordModel(p.scenario.seed.Child("runtime-shape")));
  RuntimeService service(options, p.log, model);
  service.set_rounds(p.scenario.rounds);

  auto client_check =
      grpc::experimental::ExternalCertificateVerifier::Create<internal::AttestedPeerVerifier>(
          p.trust,
          std::vector<std::string>{std::string(kRoleDevice), std::string(kRoleModelProvider)},
          p.log);
  CONFML_ASSIGN_OR_RETURN(internal::ListeningServer listening,
                          internal::StartServer(options.listen, p.identity, client_check, &service,
                                                options.max_message_bytes, options.ready_file));
  std::unique_ptr<grpc::Server>& server = listening.server;
  p.log->Line("serving on " + listening.address);
  Status run = service.Run(stop);
  service.Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  p.log->Line(run.ok() ? "stopped" : "stopped: " + run.ToString());
  return run;
}

}  // namespace confml::net
