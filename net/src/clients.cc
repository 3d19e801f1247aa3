// What the roles that connect to the runtime (model-provider, device)
// share: the runtime stub, which admits the runtime in the TLS handshake (its
// RIM must be listed for role runtime) before anything is sent, the retry
// rules, and the model-provider's release.
#include <chrono>
#include <thread>

#include "net_common.h"
#include "net_internal.h"

namespace confml::net::internal {

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
    Status sent = SendModel(writer.get(), values, 0, false, chunk_bytes, &meta);
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

}  // namespace confml::net::internal
