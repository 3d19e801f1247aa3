// Tests of experiments/src/run_extras.h: outcome.h5 round-trips, and a file
// that is not one is DataLoss.
#include "../../experiments/src/run_extras.h"

#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"

namespace confml::experiments {
namespace {

TEST(RunExtras, RoundTripsMetricsAdmissionsAndEvents) {
  testing::TempDir tmp;
  const std::string path = tmp.path() + "/outcome.h5";
  RunExtras x;
  x.metrics = {{"attack.success", 11.5}, {"inputs_leaked", 0.0}};
  x.admissions = {{"device", "runtime", "runtime", false, "rim", "RIM not listed"},
                  {"runtime", "device-3", "device", true, "", "token verified"}};
  x.arrays = {{"reconstruction", {1, 1, 2, 2}, {0.f, 0.25f, 0.5f, 1.f}}};
  x.events = {"device refused the runtime", "done"};
  x.text = {{"scenario", "server_training"}};
  ASSERT_TRUE(WriteRunExtras(path, x).ok());
  StatusOr<RunExtras> back = ReadRunExtras(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->metrics, x.metrics);
  ASSERT_EQ(back->admissions.size(), 2u);
  EXPECT_FALSE(back->admissions[0].admitted);
  EXPECT_EQ(back->admissions[0].failed_checks, "rim");
  EXPECT_EQ(back->admissions[0].detail, "RIM not listed");
  EXPECT_TRUE(back->admissions[1].admitted);
  EXPECT_EQ(back->admissions[1].attester, "device-3");
  EXPECT_EQ(back->events, x.events);
}

TEST(RunExtras, BadArraysAndFilesAreErrors) {
  testing::TempDir tmp;
  RunExtras x;
  x.arrays = {{"bad", {2, 2}, {1.f, 2.f, 3.f}}};
  EXPECT_EQ(WriteRunExtras(tmp.path() + "/a.h5", x).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadRunExtras(tmp.path() + "/missing.h5").status().code(), StatusCode::kNotFound);
  std::ofstream(tmp.path() + "/junk.h5") << "not hdf5";
  EXPECT_EQ(ReadRunExtras(tmp.path() + "/junk.h5").status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace confml::experiments
