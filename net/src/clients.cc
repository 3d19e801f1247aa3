// `confml serve model-provider` and `confml device`: the roles that connect
// to the runtime. Both admit the runtime in the TLS handshake (its RIM must
// be listed for role runtime) before anything is sent.
#include <chrono>
#include <thread>

#include "confml/core/aggregator.h"
#include "confml/core/dataset.h"
#include "confml/core/trainer.h"
#include "net_common.h"
#include "net_internal.h"
#include "roles.h"

namespace confml::net {

namespace internal {

std::unique_ptr<confml::v1::Runtime::Stub> RuntimeStub(const PartyProcess& p,
                                                       const std::string& runtime) {
  auto check = grpc::experimental::ExternalCertificateVerifier::Create<AttestedPeerVerifier>(
      p.trust, std::vector<std::string>{std::string(kRoleRuntime)}, p.log);
  auto channel = grpc::CreateCustomChannel(runtime, ChannelCredentials(p.identity, check),
                                           ChannelArgs(4 << 20));
  return confml::v1::Runtime::NewStub(channel);
}

std::chrono::system_clock::time_point In(double seconds) {
  return std::chrono::system_clock::now() +
         std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

bool Retryable(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         s.error_code() == grpc::StatusCode::CANCELLED;
}

Status ReleaseModel(const PartyProcess& p, const std::string& runtime,
                    const std::vector<float>& values, const confml::v1::ModelChunk& meta,
                    int64_t chunk_bytes, double timeout_seconds, const std::atomic<bool>* stop) {
  const uint64_t expected = values.size() * sizeof(float);
  auto stub = RuntimeStub(p, runtime);
  const auto give_up = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
  bool retried = false;  // log the first retry only
  while (true) {
    grpc::ClientContext ctx;
    // The federated runtime acknowledges once its engine knows the model's
    // size (after loading the data), so one attempt may take a while.
    const double left =
        std::chrono::duration<double>(give_up - std::chrono::steady_clock::now()).count();
    ctx.set_deadline(In(std::max(10.0, left)));
    ctx.set_wait_for_ready(true);
    confml::v1::Ack ack;
    auto writer = stub->DeliverModel(&ctx, &ack);
    Status sent = SendModel(writer.get(), values, 0, false, 0, chunk_bytes, &meta);
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    if (s.ok() && sent.ok()) {
      if (ack.bytes_received() != expected) {
        return DataLossError("the runtime acknowledged " + std::to_string(ack.bytes_received()) +
                             " bytes, " + std::to_string(expected) + " were sent");
      }
      p.log->Line("released the initial model to the attested runtime: " +
                  std::to_string(expected) + " bytes acknowledged");
      return OkStatus();
    }
    if (s.ok()) return sent;
    if (!Retryable(s) || Stopped(stop) || std::chrono::steady_clock::now() > give_up) {
      p.log->Line("could not release the initial model: " + s.error_message());
      return FromGrpc(s, "releasing the initial model to " + runtime);
    }
    if (!retried) p.log->Line("runtime not ready (" + s.error_message() + "); retrying");
    retried = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

}  // namespace internal

using internal::In;
using internal::Retryable;
using internal::RuntimeStub;

Status RunModelProvider(const ModelProviderOptions& options, const std::atomic<bool>* stop) {
  CONFML_ASSIGN_OR_RETURN(internal::PartyProcess p,
                          internal::StartParty(options, options, std::string(kRoleModelProvider),
                                               stop, options.connect_timeout_seconds));
  if (options.runtime.empty()) return InvalidArgumentError("--runtime ADDR is required");
  if (p.scenario.federated) return internal::RunFederatedModelProvider(options, p, stop);
  CONFML_ASSIGN_OR_RETURN(ModelPtr model,
                          internal::WordModel(p.scenario.seed.Child("provider-init")));
  return internal::ReleaseModel(p, options.runtime, FlatState(*model), confml::v1::ModelChunk(),
                                options.chunk_bytes, options.connect_timeout_seconds, stop);
}

StatusOr<DeviceReport> RunDevice(const DeviceOptions& options, const std::atomic<bool>* stop) {
  CONFML_ASSIGN_OR_RETURN(internal::PartyProcess p,
                          internal::StartParty(options, options, std::string(kRoleDevice), stop,
                                               options.connect_timeout_seconds));
  if (p.scenario.federated) return internal::RunFederatedDevice(options, p, stop);
  if (options.runtime.empty()) return InvalidArgumentError("--runtime ADDR is required");
  if (options.count < 1 || options.index < 0 || options.index >= options.count) {
    return InvalidArgumentError("device --index must be in [0, --of)");
  }
  // The words this device's user types, and everyone else's.
  std::vector<std::string> all = p.scenario.user_words;
  all.insert(all.end(), p.scenario.other_device_words.begin(), p.scenario.other_device_words.end());
  DeviceReport report;
  if (!options.words.empty()) {
    report.own_words = options.words;
  } else if (options.count == 2) {
    report.own_words = options.index == 0 ? p.scenario.user_words : p.scenario.other_device_words;
  } else {
    for (size_t i = static_cast<size_t>(options.index); i < all.size();
         i += static_cast<size_t>(options.count)) {
      report.own_words.push_back(all[i]);
    }
  }
  if (report.own_words.empty()) return InvalidArgumentError("this device has no words to type");
  std::vector<std::string> others;
  for (const std::string& w : all) {
    if (std::find(report.own_words.begin(), report.own_words.end(), w) == report.own_words.end()) {
      others.push_back(w);
    }
  }
  CONFML_ASSIGN_OR_RETURN(Dataset data, MakeNextLetterDataset(report.own_words));
  CONFML_ASSIGN_OR_RETURN(ModelPtr model,
                          internal::WordModel(p.scenario.seed.Child("device-shape")));
  const std::string name = p.party->name();
  auto stub = RuntimeStub(p, options.runtime);
  auto reachable_until =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(static_cast<int64_t>(options.connect_timeout_seconds * 1000));
  int64_t next_round = 0;
  while (true) {
    // 1. The round's global model (the runtime holds the call until a round
    //    this device has not yet answered is open).
    confml::v1::GlobalRequest req;
    req.mutable_header()->set_protocol_version(kProtocolVersion);
    req.set_round(next_round);
    StatusOr<internal::ReceivedModel> got = internal::FetchFromRuntime(
        [&](grpc::ClientContext* ctx) { return stub->GetGlobalModel(ctx, req); }, 64 << 20,
        "the global model", options.runtime, options.reconnect_seconds, &reachable_until, *p.log,
        stop);
    if (!got.ok()) return got.status();
    CONFML_RETURN_IF_ERROR(LoadFlatState(*model, got->values));
    if (got->final) {
      p.log->Line("final global model after " + std::to_string(got->round) + " rounds");
      int64_t right = 0;
      for (const std::string& w : others) {
        CONFML_ASSIGN_OR_RETURN(std::string guess,
                                experiments::DevicePredictWord(*model, w.substr(0, 3)));
        right += guess == w;
        report.predictions.push_back(w.substr(0, 3) + " -> " + guess +
                                     (guess == w ? "" : " (wanted " + w + ")"));
        p.log->Line("predicts another device's word: " + report.predictions.back());
      }
      int64_t own = 0;
      for (const std::string& w : report.own_words) {
        CONFML_ASSIGN_OR_RETURN(std::string guess,
                                experiments::DevicePredictWord(*model, w.substr(0, 3)));
        own += guess == w;
      }
      report.others_accuracy = others.empty() ? 0 : static_cast<double>(right) / others.size();
      report.own_accuracy = static_cast<double>(own) / report.own_words.size();
      p.log->Line("others_accuracy=" + std::to_string(report.others_accuracy) +
                  " own_accuracy=" + std::to_string(report.own_accuracy));
      return report;
    }
    // 2. Local training inside the realm on this user's words.
    std::vector<float> update;
    CONFML_RETURN_IF_ERROR(p.party->realm().Run([&](RealmContext&) -> Status {
      TrainOptions t;
      t.epochs = p.scenario.local_epochs;
      t.batch_size = std::max<int64_t>(1, data.size());
      t.optimizer.name = "adam";
      t.optimizer.lr = p.scenario.lr;
      CONFML_RETURN_IF_ERROR(
          Trainer(t)
              .Fit(*model, data, nullptr,
                   p.scenario.seed.Child("device-" + name, static_cast<uint64_t>(got->round)))
              .status());
      update = FlatState(*model);
      for (size_t i = 0; i < update.size(); ++i) update[i] -= got->values[i];
      return OkStatus();
    }));
    ++report.rounds_trained;
    // 3. The update back to the runtime.
    grpc::ClientContext uctx;
    uctx.set_deadline(In(options.reconnect_seconds));
    confml::v1::Ack ack;
    auto writer = stub->PushUpdate(&uctx, &ack);
    Status sent = internal::SendModel(writer.get(), update, got->round, false, data.size(),
                                      options.chunk_bytes);
    writer->WritesDone();
    grpc::Status us = writer->Finish();
    if (!us.ok()) {
      p.log->Line("round " + std::to_string(got->round) +
                  ": update not taken: " + us.error_message());
    } else {
      p.log->Line("round " + std::to_string(got->round) + ": update sent (" +
                  std::to_string(ack.bytes_received()) + " bytes acknowledged)");
    }
    next_round = got->round + 1;
  }
}

}  // namespace confml::net
