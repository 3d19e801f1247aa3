// kill -9 during a federated run, then `confml run --resume`: the final model
// is bitwise the one an uninterrupted run ends with.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "../../experiments/src/federated_runner.h"
#include "test_util.h"

namespace confml::experiments {
namespace {

using testing::RunConfml;
using testing::TempDir;

const std::vector<std::string> kSettings = {"federated.rounds=60", "federated.workers=2",
                                            "dataset.num_samples=600"};

std::string OnlyRunDir(const std::string& out_dir) {
  std::vector<std::string> dirs;
  for (const auto& e : std::filesystem::directory_iterator(out_dir)) dirs.push_back(e.path());
  return dirs.size() == 1 ? dirs[0] : "";
}

TEST(FlKillResume, ResumedRunEndsWithTheUninterruptedModel) {
  TempDir tmp;
  const std::string config = testing::SourceDir() + "/experiments/fedavg_synthetic.yaml";

  // The reference: one uninterrupted run.
  std::vector<std::string> args = {"run", config, "experiment.output_dir=" + tmp.path() + "/a",
                                   "--progress=none"};
  args.insert(args.end(), kSettings.begin(), kSettings.end());
  testing::CliResult ref = RunConfml(args, tmp.path());
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  StatusOr<std::string> ref_hash =
      ReadFederatedStateHash(OnlyRunDir(tmp.path() + "/a") + "/fl_rounds.h5");
  ASSERT_TRUE(ref_hash.ok()) << ref_hash.status();
  ASSERT_FALSE(ref_hash->empty());

  // The same run, killed without warning once a few rounds are on disk.
  const std::string out_b = tmp.path() + "/b";
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<std::string> a = {testing::ConfmlBinary(), "run", config,
                                  "experiment.output_dir=" + out_b, "--progress=none"};
    a.insert(a.end(), kSettings.begin(), kSettings.end());
    std::vector<char*> argv;
    for (std::string& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  std::string run_dir;
  int64_t rounds_seen = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    if (run_dir.empty() && std::filesystem::exists(out_b)) run_dir = OnlyRunDir(out_b);
    if (!run_dir.empty()) {
      StatusOr<std::vector<RoundMetrics>> r = ReadFederatedResults(run_dir + "/fl_rounds.h5");
      if (r.ok()) rounds_seen = static_cast<int64_t>(r->size());
      if (rounds_seen >= 5) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_FALSE(run_dir.empty());
  if (!WIFSIGNALED(status)) GTEST_SKIP() << "the run finished before it could be killed";
  ASSERT_GE(rounds_seen, 5);

  std::vector<std::string> resume = {"run", config, "--resume", run_dir, "--progress=none"};
  resume.insert(resume.end(), kSettings.begin(), kSettings.end());
  testing::CliResult r = RunConfml(resume, tmp.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  StatusOr<std::string> hash = ReadFederatedStateHash(run_dir + "/fl_rounds.h5");
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(*hash, *ref_hash);
  StatusOr<std::vector<RoundMetrics>> rounds = ReadFederatedResults(run_dir + "/fl_rounds.h5");
  ASSERT_TRUE(rounds.ok());
  EXPECT_EQ(rounds->size(), 60u);
}

}  // namespace
}  // namespace confml::experiments
