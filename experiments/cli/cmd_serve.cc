// confml serve verifier|runtime|model-provider [...] and confml device [...]:
// the Islet roles as separate processes over gRPC with attested TLS
// (net/; built with -DCONFML_WITH_GRPC=ON), for any federated experiment
// config (the word scenario: experiments/islet/fl_words_federated.yaml).
// See docs/scaleout.md.
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "commands.h"

#ifdef CONFML_WITH_GRPC
#include <atomic>

#include "confml/net/net.h"
#endif

namespace confml::cli {
namespace {

constexpr char kServeUsage[] =
    "usage: confml serve verifier --config CONFIG --cert-out FILE [--listen ADDR] [common]\n"
    "       confml serve runtime --config CONFIG --verifier ADDR --verifier-cert FILE [--listen "
    "ADDR]\n"
    "             [--devices N] [--round-timeout S] [--max-retries R] [--results F.json]\n"
    "             [--join-timeout S] [--model-timeout S] [--resume RUN_DIR]\n"
    "             [--max-message-bytes B] [--linger S] [--pause-before-round R] [common]\n"
    "       confml serve model-provider --config CONFIG --verifier ADDR --verifier-cert FILE\n"
    "             --runtime ADDR [--chunk-bytes B] [--connect-timeout S] [common]\n"
    "       confml device --config CONFIG --runtime ADDR --verifier ADDR --verifier-cert FILE\n"
    "             --index I --of N [--chunk-bytes B] [--connect-timeout S] [--reconnect S] "
    "[common]\n"
    "CONFIG: an experiment of kind federated (the runtime runs it as `confml run` does, from\n"
    "        the initial model the model-provider delivers; device I of N trains the clients\n"
    "        with id % N == I; with partition owned, N is num_clients and device I trains\n"
    "        client I only). The Islet word scenario: experiments/islet/fl_words_federated.yaml\n"
    "common: --name NAME  --log FILE  --ready-file FILE (servers: gets host:port)\n"
    "        --set SECTION.KEY=VALUE (config override, as `confml run`'s; give every process "
    "the same)\n"
    "        --component MODULE=CONFIG (extra code in this party's Program, e.g. "
    "attacks=exfiltrate_inputs)\n";

#ifdef CONFML_WITH_GRPC
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

struct Args {
  std::string role;
  net::VerifierOptions verifier;
  net::RuntimeOptions runtime;
  net::ModelProviderOptions provider;
  net::DeviceOptions device;
};

int Usage(const std::string& why) {
  std::fprintf(stderr, "confml: %s\n%s", why.c_str(), kServeUsage);
  return kExitUsage;
}

// `--help` or `-h` anywhere: the usage on stdout and success, as the other
// subcommands do, whatever else is on the line.
bool WantsHelp(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return true;
  }
  return false;
}

// Out-of-range text (ERANGE) and NaN are refused, not clamped or compared.
bool ToDouble(std::string_view v, double* out) {
  char* end = nullptr;
  std::string s(v);
  errno = 0;
  *out = std::strtod(s.c_str(), &end);
  return !s.empty() && end && *end == '\0' && errno == 0 && !std::isnan(*out);
}
bool ToInt(std::string_view v, int64_t* out) {
  char* end = nullptr;
  std::string s(v);
  errno = 0;
  *out = std::strtoll(s.c_str(), &end, 10);
  return !s.empty() && end && *end == '\0' && errno == 0;
}

// Parses the flags of every role into every role's options (each role
// ignores what it does not use, but an unknown flag is an error).
int Parse(int argc, char** argv, Args* a) {
  net::CommonOptions common;
  net::VerifierLink link;
  std::string listen, ready;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&](std::string_view* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string_view v;
    int64_t n = 0;
    double d = 0;
    if (arg == "--config" && value(&v)) {
      common.config_path = v;
    } else if (arg == "--set" && value(&v)) {
      if (v.find('=') == std::string_view::npos || v.front() == '=') {
        return Usage("--set needs SECTION.KEY=VALUE, got '" + std::string(v) + "'");
      }
      common.overrides.emplace_back(v);
    } else if (arg == "--resume" && value(&v)) {
      a->runtime.resume_dir = v;
    } else if (arg == "--name" && value(&v)) {
      common.name = v;
    } else if (arg == "--log" && value(&v)) {
      common.log_path = v;
    } else if (arg == "--component" && value(&v)) {
      size_t eq = v.find('=');
      if (eq == std::string_view::npos || eq == 0) return Usage("--component needs MODULE=CONFIG");
      common.extra_components.push_back(
          {std::string(v.substr(0, eq)), std::string(v.substr(eq + 1))});
    } else if (arg == "--verifier" && value(&v)) {
      link.verifier = v;
    } else if (arg == "--verifier-cert" && value(&v)) {
      link.verifier_cert = v;
    } else if (arg == "--listen" && value(&v)) {
      listen = v;
    } else if (arg == "--ready-file" && value(&v)) {
      ready = v;
    } else if (arg == "--cert-out" && value(&v)) {
      a->verifier.cert_out = v;
    } else if (arg == "--runtime" && value(&v)) {
      a->provider.runtime = a->device.runtime = v;
    } else if (arg == "--devices" && value(&v) && ToInt(v, &n) && n > 0) {
      a->runtime.expected_devices = n;
    } else if (arg == "--min-clients" || arg == "--checkpoint" || arg == "--words") {
      // The word runtime's flags (protocol 2), named so that old scripts say
      // what replaces them rather than just failing.
      return Usage(std::string(arg) +
                   " belonged to the removed word runtime: the word scenario is "
                   "experiments/islet/fl_words_federated.yaml; use federated.min_updates "
                   "(--set) for --min-clients and --resume RUN_DIR for --checkpoint");
    } else if (arg == "--max-retries" && value(&v) && ToInt(v, &n) && n >= 0) {
      a->runtime.max_retries = n;
    } else if (arg == "--round-timeout" && value(&v) && ToDouble(v, &d) && d > 0) {
      a->runtime.round_timeout_seconds = d;
    } else if (arg == "--join-timeout" && value(&v) && ToDouble(v, &d) && d > 0) {
      a->runtime.join_timeout_seconds = d;
    } else if (arg == "--model-timeout" && value(&v) && ToDouble(v, &d) && d > 0) {
      a->runtime.model_timeout_seconds = d;
    } else if (arg == "--pause-before-round" && value(&v) && ToInt(v, &n) && n > 0) {
      a->runtime.pause_before_round = n;
    } else if (arg == "--linger" && value(&v) && ToDouble(v, &d) && d >= 0) {
      a->runtime.linger_seconds = d;
    } else if (arg == "--results" && value(&v)) {
      a->runtime.results_out = v;
    } else if (arg == "--max-message-bytes" && value(&v) && ToInt(v, &n) && n >= 1024) {
      a->runtime.max_message_bytes = n;
    } else if (arg == "--chunk-bytes" && value(&v) && ToInt(v, &n) && n > 0) {
      a->runtime.chunk_bytes = a->provider.chunk_bytes = a->device.chunk_bytes = n;
    } else if (arg == "--connect-timeout" && value(&v) && ToDouble(v, &d) && d > 0) {
      a->provider.connect_timeout_seconds = a->device.connect_timeout_seconds = d;
    } else if (arg == "--reconnect" && value(&v) && ToDouble(v, &d) && d > 0) {
      a->device.reconnect_seconds = d;
    } else if (arg == "--index" && value(&v) && ToInt(v, &n) && n >= 0) {
      a->device.index = n;
    } else if (arg == "--of" && value(&v) && ToInt(v, &n) && n > 0) {
      a->device.count = n;
    } else if (v.data() != nullptr) {
      // Only a known flag consumes a value, so this one's value is bad.
      return Usage("bad value '" + std::string(v) + "' for " + std::string(arg) +
                   " (out of range or not a number; see the usage below)");
    } else if (i + 1 >= argc) {
      return Usage("'" + std::string(arg) + "' is an unknown option or needs a value");
    } else {
      return Usage("unknown option '" + std::string(arg) + "'");
    }
  }
  static_cast<net::CommonOptions&>(a->verifier) = common;
  static_cast<net::CommonOptions&>(a->runtime) = common;
  static_cast<net::CommonOptions&>(a->provider) = common;
  static_cast<net::CommonOptions&>(a->device) = common;
  static_cast<net::VerifierLink&>(a->runtime) = link;
  static_cast<net::VerifierLink&>(a->provider) = link;
  static_cast<net::VerifierLink&>(a->device) = link;
  if (!listen.empty()) a->verifier.listen = a->runtime.listen = listen;
  a->verifier.ready_file = a->runtime.ready_file = ready;
  return kExitOk;
}

int Finish(const Status& s) {
  if (s.ok()) return kExitOk;
  std::fprintf(stderr, "confml: %s\n", s.ToString().c_str());
  if (s.code() == StatusCode::kInvalidArgument) return kExitUsage;
  if (s.code() == StatusCode::kUnauthenticated || s.code() == StatusCode::kUnavailable) {
    return kExitNegative;
  }
  return kExitFailure;
}

void InstallSignals() {
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
}
#endif

}  // namespace

int ServeCommand(int argc, char** argv) {
  if (WantsHelp(argc, argv)) {
    std::fputs(kServeUsage, stdout);
    return kExitOk;
  }
#ifndef CONFML_WITH_GRPC
  std::fprintf(stderr, "confml: serve needs a build with -DCONFML_WITH_GRPC=ON\n");
  return kExitUsage;
#else
  if (argc < 1) return Usage("serve needs a role: verifier, runtime or model-provider");
  Args a;
  a.role = argv[0];
  if (int rc = Parse(argc - 1, argv + 1, &a); rc != kExitOk) return rc;
  InstallSignals();
  if (a.role == "verifier") return Finish(net::ServeVerifier(a.verifier, &g_stop));
  if (a.role == "runtime") return Finish(net::ServeRuntime(a.runtime, &g_stop));
  if (a.role == "model-provider") return Finish(net::RunModelProvider(a.provider, &g_stop));
  return Usage("unknown role '" + a.role + "' (verifier, runtime, model-provider)");
#endif
}

int DeviceCommand(int argc, char** argv) {
  if (WantsHelp(argc, argv)) {
    std::fputs(kServeUsage, stdout);
    return kExitOk;
  }
#ifndef CONFML_WITH_GRPC
  std::fprintf(stderr, "confml: device needs a build with -DCONFML_WITH_GRPC=ON\n");
  return kExitUsage;
#else
  Args a;
  if (int rc = Parse(argc, argv, &a); rc != kExitOk) return rc;
  InstallSignals();
  StatusOr<net::DeviceReport> r = net::RunDevice(a.device, &g_stop);
  if (!r.ok()) return Finish(r.status());
  std::printf("trained %lld clients in %lld rounds\nfinal model %s\n",
              static_cast<long long>(r->clients_trained), static_cast<long long>(r->rounds_trained),
              r->final_state_hash.c_str());
  return kExitOk;
#endif
}

}  // namespace confml::cli
