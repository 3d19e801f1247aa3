// confml/net/net.h: confml's roles as separate OS processes talking gRPC over
// TLS whose sessions are bound to attestation verdicts (RA-TLS style).
//
// Each process runs its role's Program in its own simulated realm (the sim
// backend; every process of one deployment uses the same platform_seed, i.e.
// the same simulated machine). Its TLS private key is generated inside that
// realm; the realm's CCA token carries challenge = SHA-512(nonce || TLS
// public key), where the nonce is a ticket signed by the verifier process;
// the token, the ticket and the claimed role travel in an X.509 extension of
// the party's self-signed certificate. During the TLS handshake each side
// appraises the other's certificate with defenses::Verify and the signed
// policy it fetched from the verifier: an unadmitted peer never completes the
// handshake, so it gets no RPC served, and the failing finding is logged.
//
// The runtime runs an ordinary `kind: federated` experiment through the
// federated engine, as `confml run` does, from the initial model the
// model-provider releases to it, and deals each round's clients to the
// device processes:
//
//   std::atomic<bool> stop{false};
//   net::VerifierOptions v;  v.config_path = "experiments/islet/fl_words_federated.yaml";
//   v.listen = "127.0.0.1:0";  v.cert_out = "run/verifier.pem";
//   v.ready_file = "run/verifier.addr";
//   std::thread t([&] { Status s = net::ServeVerifier(v, &stop); });
//   ...
//   net::DeviceOptions d;  d.config_path = v.config_path;  d.runtime = "127.0.0.1:5001";
//   d.verifier = *ReadFileText("run/verifier.addr");  d.verifier_cert = "run/verifier.pem";
//   d.name = "device-1";  d.index = 0;  d.count = 2;
//   StatusOr<net::DeviceReport> r = net::RunDevice(d, &stop);
//
// Errors: Unavailable when a peer cannot be reached (or refused the
// handshake) in time; Unauthenticated when an attested peer was refused;
// InvalidArgument for bad options; the server loops log and keep serving on
// a bad request. No gRPC or protobuf type appears in this header.
// Thread safety: each function runs one role; `stop` may be set from a
// signal handler or another thread to end it.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "confml/core/program.h"
#include "confml/core/status.h"

namespace confml::net {

// The protocol version this build speaks (confml.v1 messages' header). 2
// added the federated flow (GetWork, PushResult, ReportFailure) beside the
// word runtime's RPCs; 3 removed those (GetGlobalModel, PushUpdate). A peer
// speaking another version is refused with both versions named.
inline constexpr uint32_t kProtocolVersion = 3;

// What every role process shares.
struct CommonOptions {
  // The experiment config. Required: a `kind: federated` experiment (the
  // runtime runs the federated engine, devices train their share of its
  // clients; the Islet word scenario is
  // experiments/islet/fl_words_federated.yaml). An optional tee section must
  // be sim (its parameters are the simulated platform every process shares).
  std::string config_path;
  // "section.key=value" overrides applied to the config, as `confml run`'s.
  // Every process of one run must be given the same ones (the federated
  // flow checks the resolved config's digest).
  std::vector<std::string> overrides;
  // This party's name (the certificate's CN). Default: the role's name.
  std::string name;
  // Extra Program components, as `confml measure --component`: e.g.
  // {"attacks", "exfiltrate_inputs"} deploys a runtime whose RIM the policy
  // does not list.
  std::vector<ProgramComponent> extra_components;
  // Where to append the log (one line per event); empty: stderr only.
  std::string log_path;
};

struct VerifierOptions : CommonOptions {
  std::string listen = "127.0.0.1:0";  // port 0: the OS picks one
  std::string cert_out;                // required: the certificate parties pin
  std::string ready_file;              // optional: gets "host:port" once serving
  int64_t ticket_ttl_seconds = 3600;   // tickets older than this are refused
};
// Serves until *stop. Builds the policy from the audited honest Programs
// (device, runtime, model-provider) and the sim platform's CPAK, signs it
// with a key generated in its realm, and serves tickets and the policy.
Status ServeVerifier(const VerifierOptions& options, const std::atomic<bool>* stop);

// How a party reaches and authenticates the verifier.
struct VerifierLink {
  std::string verifier;       // "host:port"
  std::string verifier_cert;  // the pinned certificate file (ServeVerifier's cert_out)
};

struct RuntimeOptions : CommonOptions, VerifierLink {
  std::string listen = "127.0.0.1:0";
  std::string ready_file;
  // Device processes the clients are dealt to (0: 2). With partition
  // `owned` it must be the partition's num_clients (device i is client i).
  int64_t expected_devices = 0;
  // A device that holds unfinished work and sends nothing for this long is
  // a dropout. A round that cannot go on (nobody left who may train its
  // unfinished clients) waits at most max_retries further timeouts for a
  // device to (re)join (see ServeRuntime).
  double round_timeout_seconds = 60;
  int64_t max_retries = 3;
  // Optional: the run's record (JSON) written at the end.
  std::string results_out;
  // Largest message the server accepts, and largest model/update stream.
  int64_t max_message_bytes = 4 << 20;
  int64_t max_model_bytes = 64 << 20;
  int64_t chunk_bytes = 4096;  // models stream to devices in chunks of this size
  // After the last round, how long to keep serving the final model.
  double linger_seconds = 30;
  // Before the first round, how long to wait for all expected_devices to
  // join (those that did not are recorded as dropouts).
  double join_timeout_seconds = 60;
  // How long the runtime waits for the model-provider's initial model
  // before round 1 (Unavailable after that), and how long a delivery may
  // wait for the engine to be ready for it.
  double model_timeout_seconds = 120;
  // Continue the run in this run folder from its fl.ckpt (as `confml run
  // --resume`). Default empty: a new run folder.
  std::string resume_dir;
  // Fault injection for restart tests and --resume demos. When > 0, the
  // runtime stops handing out work when round `pause_before_round` (counted
  // from 1, as in its log) would open, logs "pausing before round R", and
  // waits until *stop, then fails with Cancelled. Every earlier round is in
  // the run folder's fl.ckpt by then (at the config's checkpoint_every), so
  // a process killed after that line always leaves the same state.
  // Default 0: never pause.
  int64_t pause_before_round = 0;
};
// Serves rounds until the last one is done (and lingers) or *stop. Runs the
// config's experiment exactly as `confml run` does (run folder, checkpoints,
// evaluation, hooks, aggregation), except that each round's clients train
// on the device processes: with N = expected_devices, device i owns the
// clients whose id % N == i. A device that sends nothing for
// round_timeout_seconds while it holds work is a dropout (recorded). What
// happens to its unfinished clients depends on where their data lives:
//  - partition `owned` (a client's data is one device's own, as in the word
//    scenario; N must equal num_clients, so device i is client i): nobody
//    else may train them. Once every device still taking part is done, the
//    round closes with the absent devices' clients missing
//    (ClientTrainResult::missing: the engine skips them, counts
//    clients_dropped, and fails the round when fewer than
//    federated.min_updates came back). While fewer than max(1, min_updates)
//    updates are in, the round first waits at most max_retries timeouts for
//    an absent device to (re)join and train its client.
//  - any other partition (every process holds the whole dataset, as MPI
//    ranks do): they are re-dealt round robin to the devices still taking
//    part, so the result does not change.
// With no update possible (no device left) a round waits at most
// max_retries timeouts for one to (re)join, then fails with Unavailable.
// Before round 1 the engine waits (for model_timeout_seconds) for the
// model-provider's initial model; one of another size is refused by the
// DeliverModel call, naming both sizes and the model, and one for another
// resolved config by its digest. A resumed run needs it again: the
// checkpoint's config hash covers it.
Status ServeRuntime(const RuntimeOptions& options, const std::atomic<bool>* stop);

struct ModelProviderOptions : CommonOptions, VerifierLink {
  std::string runtime;         // "host:port"
  int64_t chunk_bytes = 4096;  // models stream in chunks of this size
  double connect_timeout_seconds = 60;
};
// Builds the config's initial global state exactly as the engine does (its
// seeded model, or federated.initial_model read from this process's disk),
// releases it to the attested runtime in chunks with the resolved config's
// digest, and checks the acknowledged byte count; returns when acknowledged.
Status RunModelProvider(const ModelProviderOptions& options, const std::atomic<bool>* stop);

struct DeviceOptions : CommonOptions, VerifierLink {
  std::string runtime;  // "host:port"
  // This device is device `index` of `count` (the runtime's
  // expected_devices): it owns the clients whose id % count == index, and
  // with partition `owned` it trains no other client.
  int64_t index = 0;
  int64_t count = 2;
  int64_t chunk_bytes = 4096;
  double connect_timeout_seconds = 60;
  // How long to keep retrying an unreachable runtime (e.g. being restarted).
  double reconnect_seconds = 300;
};

struct DeviceReport {
  int64_t rounds_trained = 0;    // rounds in which it trained at least one client
  int64_t clients_trained = 0;   // client results the runtime took
  std::string final_state_hash;  // the run's final model (StateHash)
};
// Builds the config's experiment (same data, partition, model, seeds, hooks)
// and trains the clients the runtime hands it with the engine's own local
// training, inside its realm, until the runtime publishes the final model.
// `index`/`count` must match the runtime's device count, and the resolved
// config must be the runtime's (FailedPrecondition otherwise). With
// partition `owned` a client of another device is refused
// (FailedPrecondition, reported to the runtime, which fails the run).
StatusOr<DeviceReport> RunDevice(const DeviceOptions& options, const std::atomic<bool>* stop);

}  // namespace confml::net
