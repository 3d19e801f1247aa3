// Tests of confml/scaleout/mpi_executor.h that need no launcher: the deal of
// a round's clients to ranks, and launcher detection.
#include "confml/scaleout/mpi_executor.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <vector>

namespace confml::scaleout {
namespace {

TEST(DealClients, OneRankTrainsEverything) {
  EXPECT_EQ(DealClients({5, 1, 9}, 1), (std::vector<int>{0, 0, 0}));
  EXPECT_TRUE(DealClients({}, 3).empty());
}

TEST(DealClients, LargestFirstToTheLeastLoadedRankTiesToTheLowest) {
  // Loads count work + 1 per client. 9 (slot 2) -> rank 0 (load 10);
  // 5 (slot 0) -> rank 1 (6); 4 (slot 3) -> rank 1 (11); 1 (slot 1) -> rank 0.
  EXPECT_EQ(DealClients({5, 1, 9, 4}, 2), (std::vector<int>{1, 0, 0, 1}));
  // Equal work: round-robin from rank 0.
  EXPECT_EQ(DealClients({3, 3, 3, 3, 3}, 3), (std::vector<int>{0, 1, 2, 0, 1}));
}

TEST(DealClients, EveryRankGetsWorkWhenThereIsEnoughAndLoadsStayClose) {
  std::vector<int64_t> work;
  for (int i = 0; i < 10; ++i) work.push_back(50 + 7 * ((i * 37) % 11));
  for (int ranks : {2, 3, 4}) {
    std::vector<int> deal = DealClients(work, ranks);
    ASSERT_EQ(deal.size(), work.size());
    std::vector<int64_t> load(static_cast<size_t>(ranks), 0);
    for (size_t i = 0; i < work.size(); ++i) {
      ASSERT_GE(deal[i], 0);
      ASSERT_LT(deal[i], ranks);
      load[static_cast<size_t>(deal[i])] += work[i];
    }
    int64_t lo = load[0], hi = load[0], biggest = 0;
    for (int64_t l : load) lo = std::min(lo, l), hi = std::max(hi, l);
    for (int64_t w : work) biggest = std::max(biggest, w);
    EXPECT_GT(lo, 0) << ranks << " ranks";
    // Greedy LPT: the spread is at most one client's work (+1 per client).
    EXPECT_LE(hi - lo, biggest + static_cast<int64_t>(work.size())) << ranks << " ranks";
    EXPECT_EQ(DealClients(work, ranks), deal);  // a fixed function
  }
}

TEST(LaunchedByMpi, FollowsTheLauncherEnvironment) {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) ::unsetenv(v);
  EXPECT_FALSE(LaunchedByMpi());
  ::setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  EXPECT_TRUE(LaunchedByMpi());
  ::unsetenv("OMPI_COMM_WORLD_SIZE");
  ::setenv("PMI_RANK", "0", 1);
  EXPECT_TRUE(LaunchedByMpi());
  ::unsetenv("PMI_RANK");
}

}  // namespace
}  // namespace confml::scaleout
