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
//   std::atomic<bool> stop{false};
//   net::VerifierOptions v;  v.config_path = "experiments/islet/fl_words.yaml";
//   v.listen = "127.0.0.1:0";  v.cert_out = "run/verifier.pem";  v.ready_file =
//   "run/verifier.addr"; std::thread t([&] { Status s = net::ServeVerifier(v, &stop); });
//   ...
//   net::DeviceOptions d;  d.runtime = "127.0.0.1:5001";  d.verifier =
//   *ReadFile("run/verifier.addr"); d.verifier_cert = "run/verifier.pem";  d.name = "device-1";
//   d.index = 0;  d.count = 2; StatusOr<net::DeviceReport> r = net::RunDevice(d, &stop);
//
// A `kind: federated` config runs the federated flow instead: the
// model-provider builds the initial model as the engine would and releases it
// to the runtime, which runs the experiment from it as `confml run` does and
// deals each round's clients to the device processes (ServeRuntime,
// RunModelProvider, RunDevice below).
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
// added the federated flow (GetWork, PushResult, ReportFailure); a peer
// speaking another version is refused with both versions named.
inline constexpr uint32_t kProtocolVersion = 2;

// What every role process shares.
struct CommonOptions {
  // The experiment config. Required. Either the Islet fl_words flow scenario
  // (seed, words, rounds) or an ordinary `kind: federated` experiment (the
  // federated flow: the runtime runs the federated engine, devices train
  // their share of its clients). An optional tee section must be sim (its
  // parameters are the simulated platform every process shares).
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
  // Devices to wait for before round 0 (0: the config's two devices).
  int64_t expected_devices = 0;
  // A round closes with the updates it has when every device that is still
  // taking part has sent one or this many seconds passed; devices that did
  // not send are dropouts. It completes when at least min_clients updates
  // arrived, else it is retried (at most max_retries times).
  int64_t min_clients = 1;
  double round_timeout_seconds = 60;
  int64_t max_retries = 3;
  // Optional: written after each round (magic, version, size; atomically by
  // rename); if it exists at start, the run resumes from it.
  std::string checkpoint;
  // Optional: the run's record (JSON) written at the end.
  std::string results_out;
  // Largest message the server accepts, and largest model/update stream.
  int64_t max_message_bytes = 4 << 20;
  int64_t max_model_bytes = 64 << 20;
  int64_t chunk_bytes = 4096;  // models stream to devices in chunks of this size
  // After the last round, how long to keep serving the final model.
  double linger_seconds = 30;
  // Federated flow: before the first round, how long to wait for all
  // expected_devices to join (those that did not are recorded as dropouts).
  double join_timeout_seconds = 60;
  // Federated flow: how long the runtime waits for the model-provider's
  // initial model before round 1 (Unavailable after that), and how long a
  // delivery may wait for the engine to be ready for it.
  double model_timeout_seconds = 120;
  // Federated flow: continue the run in this run folder from its fl.ckpt
  // (as `confml run --resume`). Default empty: a new run folder.
  std::string resume_dir;
  // Fault injection for restart tests and --resume demos. When > 0, the
  // runtime stops handing out work when round `pause_before_round` would
  // open (numbered as in its log: the word flow counts from 0, the federated
  // engine from 1), logs "pausing before round R", and waits until *stop,
  // then fails with Cancelled. Every earlier round is complete and written
  // to the checkpoint by then (federated: at the config's checkpoint_every),
  // so a process killed after that line always leaves the same state.
  // Default 0: never pause.
  int64_t pause_before_round = 0;
};
// Serves rounds until the last one is done (and lingers) or *stop.
// Federated flow: runs the config's experiment exactly as `confml run` does
// (run folder, checkpoints, evaluation, hooks, aggregation), except that each
// round's clients train on the device processes: with N = expected_devices
// (default 2), device i owns the clients whose id % N == i. A device that
// sends nothing for round_timeout_seconds while it holds work is a dropout
// (recorded); its clients of the round are re-dealt to the devices still
// taking part, so the run's result does not change. With no device left the
// round waits another timeout for one to (re)join, at most max_retries
// times, then fails with Unavailable. Before round 1 the engine waits (for
// model_timeout_seconds) for the model-provider's initial model; one of
// another size is refused by the DeliverModel call, naming both sizes and
// the model, and one for another resolved config by its digest. A resumed
// run needs it again: the checkpoint's config hash covers it. min_clients and checkpoint apply to
// the word flow only.
Status ServeRuntime(const RuntimeOptions& options, const std::atomic<bool>* stop);

struct ModelProviderOptions : CommonOptions, VerifierLink {
  std::string runtime;         // "host:port"
  int64_t chunk_bytes = 4096;  // models stream in chunks of this size
  double connect_timeout_seconds = 60;
};
// Creates the word model, releases it to the attested runtime in chunks and
// checks the acknowledged byte count; returns when acknowledged. Federated
// flow: builds the config's initial global state exactly as the engine does
// (its seeded model, or federated.initial_model read from this process's
// disk) and releases that, with the resolved config's digest.
Status RunModelProvider(const ModelProviderOptions& options, const std::atomic<bool>* stop);

struct DeviceOptions : CommonOptions, VerifierLink {
  std::string runtime;  // "host:port"
  // Which share of the config's words this device types: with count 2,
  // device 0 has flow.user_words and device 1 flow.other_device_words; with
  // more, both lists are dealt round robin. Ignored when `words` is set.
  int64_t index = 0;
  int64_t count = 2;
  std::vector<std::string> words;
  int64_t chunk_bytes = 4096;
  double connect_timeout_seconds = 60;
  // How long to keep retrying an unreachable runtime (e.g. being restarted).
  double reconnect_seconds = 300;
};

struct DeviceReport {
  std::vector<std::string> own_words;
  int64_t rounds_trained = 0;
  // Federated flow: clients trained, and the run's final model (StateHash).
  int64_t clients_trained = 0;
  std::string final_state_hash;
  // "abo -> about" per word of the other devices (the final global model's
  // completions from 3 letters), and how many were right.
  std::vector<std::string> predictions;
  double others_accuracy = 0;
  double own_accuracy = 0;
};
// Trains one round at a time until the runtime publishes the final model,
// then completes the other devices' words with it. Federated flow: builds
// the config's experiment (same data, partition, model, seeds, hooks) and
// trains the clients the runtime hands it with the engine's own local
// training; `index`/`count` must match the runtime's device count, and the
// resolved config must be the runtime's (FailedPrecondition otherwise).
StatusOr<DeviceReport> RunDevice(const DeviceOptions& options, const std::atomic<bool>* stop);

}  // namespace confml::net
