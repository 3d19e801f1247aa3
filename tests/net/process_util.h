// Starting `confml serve ...` / `confml device ...` processes from tests.
// Every process a Cluster started is killed (SIGKILL) and reaped when the
// Cluster goes away, whether the test passed or not.
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
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../experiments/test_util.h"

namespace confml::net::testing {

using experiments::testing::ConfmlBinary;
using experiments::testing::ReadAll;

inline std::string FlWordsConfig() {
  return std::string(CONFML_SOURCE_DIR) + "/experiments/islet/fl_words.yaml";
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
  std::string StartVerifier(const std::string& config) {
    Start({"serve", "verifier", "--config", config, "--listen", "127.0.0.1:0", "--cert-out",
           Path("verifier.pem"), "--ready-file", Path("verifier.addr")},
          "verifier.log");
    return WaitForFile("verifier.addr", 60).value_or("");
  }

  // A config like fl_words.yaml with `extra` flow keys (e.g. "fl_rounds: 4").
  std::string Config(const std::string& extra_flow_keys) const {
    const std::string path = Path("config.yaml");
    std::ofstream out(path);
    out << "experiment: {name: net_test, seed: 1, kind: flow}\n"
           "tee: {name: sim}\n"
           "attestation: {mode: policy}\n"
           "flow: {scenario: fl_words, user_words: [about, house, plant], "
           "other_device_words: [green, stone, lucky]"
        << (extra_flow_keys.empty() ? "" : ", " + extra_flow_keys) << "}\n";
    return path;
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

}  // namespace confml::net::testing
