// Starting `confml serve ...` / `confml device ...` processes from tests, and
// the parties of one federated flow. Every process a Cluster started is
// killed (SIGKILL) and reaped when the Cluster goes away, whether the test
// passed or not.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "../experiments/test_util.h"
#include "federated_runner.h"

namespace confml::net::testing {

using experiments::testing::ConfmlBinary;
using experiments::testing::ReadAll;

// The Islet word scenario as a federated config (partition owned).
inline std::string FlWordsConfig() {
  return std::string(CONFML_SOURCE_DIR) + "/experiments/islet/fl_words_federated.yaml";
}

class Cluster {
 public:
  Cluster() {
    dir_ = std::filesystem::temp_directory_path() /
           ("confml_net_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~Cluster() {
    for (pid_t pid : pids_) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (std::getenv("CONFML_KEEP_NET_LOGS") == nullptr) std::filesystem::remove_all(dir_);
  }
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // Starts `confml ARGS...` with stdout and stderr going to Path(log).
  pid_t Start(const std::vector<std::string>& args, const std::string& log) {
    const std::string log_path = Path(log);
    pid_t pid = ::fork();
    if (pid == 0) {
      int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::setenv("OMP_NUM_THREADS", "1", 1);
      std::vector<std::string> argv_s{ConfmlBinary()};
      argv_s.insert(argv_s.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (std::string& a : argv_s) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pids_.push_back(pid);
    return pid;
  }

  // The contents of `file` once it exists and is not empty, or nullopt.
  std::optional<std::string> WaitForFile(const std::string& file, double seconds) const {
    const auto until = Until(seconds);
    while (std::chrono::steady_clock::now() < until) {
      std::string text = ReadAll(Path(file));
      if (!text.empty()) return text;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return std::nullopt;
  }

  // Waits until the log contains `needle`.
  bool WaitForLog(const std::string& log, const std::string& needle, double seconds) const {
    const auto until = Until(seconds);
    while (std::chrono::steady_clock::now() < until) {
      if (ReadAll(Path(log)).find(needle) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // The exit code once `pid` exited, or nullopt after `seconds` (-1: killed
  // by a signal).
  std::optional<int> WaitExit(pid_t pid, double seconds) {
    const auto until = Until(seconds);
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        std::erase(pids_, pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return std::nullopt;
  }

  bool Alive(pid_t pid) const {
    int status = 0;
    return ::waitpid(pid, &status, WNOHANG) == 0;
  }

  // Starts the verifier; returns its address (empty when it did not come up).
  std::string StartVerifier(const std::string& config,
                            const std::vector<std::string>& overrides = {}) {
    std::vector<std::string> args{
        "serve",       "verifier",   "--config",           config,         "--listen",
        "127.0.0.1:0", "--cert-out", Path("verifier.pem"), "--ready-file", Path("verifier.addr")};
    for (const std::string& o : overrides) {
      args.push_back("--set");
      args.push_back(o);
    }
    Start(args, "verifier.log");
    return WaitForFile("verifier.addr", 60).value_or("");
  }

 private:
  static std::chrono::steady_clock::time_point Until(double seconds) {
    return std::chrono::steady_clock::now() +
           std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  }
  static inline int counter_ = 0;
  std::filesystem::path dir_;
  std::vector<pid_t> pids_;
};

// ---- a federated flow's parties (every test of tests/net/*processes*) ----

inline std::string RunFolder(const std::string& output) {
  std::smatch m;
  static const std::regex kFolder("run folder: (\\S+)");
  return std::regex_search(output, m, kFolder) ? m[1].str() : "";
}

// Starts `confml serve model-provider` for the runtime at `runtime`.
inline pid_t StartProvider(Cluster& c, const std::vector<std::string>& link,
                           const std::string& runtime, const std::string& log,
                           const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{"serve", "model-provider", "--runtime", runtime};
  args.insert(args.end(), link.begin(), link.end());
  args.insert(args.end(), extra.begin(), extra.end());
  return c.Start(args, log);
}

// `confml run` of `config` (with `overrides`, "section.key=value") in one
// process, the reference of every process run: its run folder and
// final-model hash, or `error` saying what failed.
struct SingleRun {
  std::string run_dir, hash, error;
};

inline SingleRun RunInOneProcess(Cluster& c, const std::string& config,
                                 const std::vector<std::string>& overrides = {}) {
  SingleRun r;
  std::vector<std::string> args{"run", config};
  args.insert(args.end(), overrides.begin(), overrides.end());
  args.push_back("--progress=none");
  pid_t run = c.Start(args, "run.log");
  std::optional<int> rc = c.WaitExit(run, 120);
  const std::string log = ReadAll(c.Path("run.log"));
  if (!rc || *rc != 0) {
    r.error = "confml run failed:\n" + log;
    return r;
  }
  r.run_dir = RunFolder(log);
  StatusOr<std::string> hash = experiments::ReadFederatedStateHash(r.run_dir + "/fl_rounds.h5");
  if (!hash.ok() || hash->empty()) {
    r.error = "no final-model hash: " + hash.status().ToString() + "\n" + log;
    return r;
  }
  r.hash = *hash;
  return r;
}

// The verifier and the runtime of one federated flow, started: `link` holds
// the flags every party passes to reach the verifier (and the config
// `overrides`, as --set), `runtime` the runtime's address (empty when it did
// not come up; the logs say why).
struct FlowParties {
  std::string verifier;
  std::vector<std::string> link;
  pid_t runtime_pid = -1;
  std::string runtime;
};

inline FlowParties StartVerifierAndRuntime(Cluster& c, const std::string& config, int devices,
                                           const std::vector<std::string>& runtime_flags = {},
                                           const std::vector<std::string>& overrides = {}) {
  FlowParties f;
  f.verifier = c.StartVerifier(config, overrides);
  if (f.verifier.empty()) return f;
  f.link = {
      "--config", config, "--verifier", f.verifier, "--verifier-cert", c.Path("verifier.pem")};
  for (const std::string& o : overrides) {
    f.link.push_back("--set");
    f.link.push_back(o);
  }
  std::vector<std::string> rt{"serve",        "runtime",
                              "--listen",     "127.0.0.1:0",
                              "--ready-file", c.Path("runtime.addr"),
                              "--devices",    std::to_string(devices)};
  rt.insert(rt.end(), runtime_flags.begin(), runtime_flags.end());
  rt.insert(rt.end(), f.link.begin(), f.link.end());
  f.runtime_pid = c.Start(rt, "runtime.log");
  f.runtime = c.WaitForFile("runtime.addr", 60).value_or("");
  return f;
}

// `confml device` arguments for device `index` (named device-<index + 1>) of `of`.
inline std::vector<std::string> DeviceArgs(const FlowParties& f, int index, int of,
                                           const std::vector<std::string>& extra = {}) {
  std::vector<std::string> dev{"device",
                               "--runtime",
                               f.runtime,
                               "--index",
                               std::to_string(index),
                               "--of",
                               std::to_string(of),
                               "--name",
                               "device-" + std::to_string(index + 1)};
  dev.insert(dev.end(), extra.begin(), extra.end());
  dev.insert(dev.end(), f.link.begin(), f.link.end());
  return dev;
}

inline std::string JsonHash(const std::string& json) {
  std::smatch m;
  static const std::regex kHash("\"final_state_hash\": \"([0-9a-f]+)\"");
  return std::regex_search(json, m, kHash) ? m[1].str() : "";
}

}  // namespace confml::net::testing
