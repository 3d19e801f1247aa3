// Helpers shared by the experiments tests: temporary folders and running the
// confml binary with captured output.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "../common/temp_dir.h"

namespace confml::experiments::testing {

inline std::string ConfmlBinary() { return std::string(CONFML_BINARY_DIR) + "/experiments/confml"; }
inline std::string SourceDir() { return CONFML_SOURCE_DIR; }

using confml::testing::TempDir;

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Starts the program argv[0] with stdout and stderr going to files in `dir`,
// after setting the environment variables `env` (name, value) in the child;
// with `own_process_group` the child leads a process group of its own (so a
// test can signal the group as a terminal's Ctrl-C does). FinishProgram
// waits for it and collects the output.
inline pid_t StartProgram(std::vector<std::string> argv_s, const std::string& dir,
                          const std::vector<std::pair<std::string, std::string>>& env = {},
                          bool own_process_group = false) {
  const std::string out_path = dir + "/stdout.txt", err_path = dir + "/stderr.txt";
  pid_t pid = ::fork();
  if (pid == 0) {
    if (own_process_group) ::setpgid(0, 0);
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(err, 2);
    for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
    std::vector<char*> argv;
    for (std::string& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

inline CliResult FinishProgram(pid_t pid, const std::string& dir) {
  CliResult r;
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadAll(dir + "/stdout.txt");
  r.err = ReadAll(dir + "/stderr.txt");
  return r;
}

// Runs the program argv[0] with stdout and stderr captured to files in `dir`,
// after setting the environment variables `env` (name, value) in the child.
inline CliResult RunProgram(std::vector<std::string> argv_s, const std::string& dir,
                            const std::vector<std::pair<std::string, std::string>>& env = {}) {
  return FinishProgram(StartProgram(std::move(argv_s), dir, env), dir);
}

// Runs `confml args...` with stdout and stderr captured to files in `dir`.
inline CliResult RunConfml(const std::vector<std::string>& args, const std::string& dir) {
  std::vector<std::string> argv = {ConfmlBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(std::move(argv), dir);
}

inline int CountLines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// The bad-config corpus: file names under tests/configs/bad, sorted.
inline std::vector<std::string> BadConfigs() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(SourceDir() + "/tests/configs/bad")) {
    if (e.path().extension() == ".yaml") out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The text of a corpus file's first line "# expect: <text>", or "" when the
// file does not start with one.
inline std::string ExpectedError(const std::string& file_text) {
  const std::string prefix = "# expect: ";
  if (file_text.rfind(prefix, 0) != 0) return "";
  return file_text.substr(prefix.size(), file_text.find('\n') - prefix.size());
}

}  // namespace confml::experiments::testing
