// The colluding trial attack of docs/extending.md (reversed_mean_attack.cc, a
// CollusionAttack from confml/attacks/poisoning_attack.h): what it crafts from
// hand-made updates, that it raises FedAvg's test error in a small
// federation, and that the page shows the file and the messages as they are.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../common/data_util.h"
#include "confml/attacks/federation.h"
#include "confml/core/attack.h"
#include "confml/core/dataset.h"
#include "confml/core/federated.h"
#include "confml/core/partition.h"
#include "doc_listing.h"
#include "federation_util.h"

namespace confml::attacks {
namespace {

TEST(ReversedMeanTest, SendsTheReversedMeanAtTheMiddleLength) {
  AttackEnv env;
  env.malicious_clients = {1, 3};
  StatusOr<AttackPtr> a = CreateAttack("reversed_mean", {{"scale", 0.5}}, env);
  ASSERT_TRUE(a.ok()) << a.status();
  // Benign (clients 0, 2): lengths 5 and 10, mean (4.5, 6) of length 7.5.
  const std::vector<ClientUpdate> honest = {
      {0, 10, {3.0f, 4.0f}}, {1, 10, {0.0f, 1.0f}}, {2, 10, {6.0f, 8.0f}}, {3, 10, {0.0f, 3.0f}}};
  std::vector<ClientContext> ctx;
  for (int64_t i = 0; i < 4; ++i) ctx.push_back({1, i, i});
  std::vector<ClientUpdate> u = honest;
  (*a)->OnRoundUpdates(ctx, {0.0f, 0.0f}, &u);
  // The middle of {5, 10} is 10 (the upper one of two), times 0.5.
  for (size_t i : {1u, 3u}) {
    EXPECT_FLOAT_EQ(u[i].values[0], -3.0f);
    EXPECT_FLOAT_EQ(u[i].values[1], -4.0f);
  }
  EXPECT_EQ(u[0].values, honest[0].values);
  EXPECT_EQ(u[2].values, honest[2].values);

  // Partial knowledge: only the malicious devices' own updates, mean (0, 2).
  StatusOr<AttackPtr> partial =
      CreateAttack("reversed_mean", {{"scale", 1.0}, {"knowledge", std::string("partial")}}, env);
  ASSERT_TRUE(partial.ok()) << partial.status();
  u = honest;
  (*partial)->OnRoundUpdates(ctx, {0.0f, 0.0f}, &u);
  EXPECT_FLOAT_EQ(u[1].values[0], 0.0f);
  EXPECT_FLOAT_EQ(u[1].values[1], -3.0f);
  EXPECT_EQ((*a)->config_text(), "reversed_mean knowledge='full' scale=0.5");
}

TEST(ReversedMeanTest, RaisesFedAvgTestError) {
  SyntheticFederation f;
  ASSERT_TRUE(MakeSyntheticFederation(&f).ok());
  AttackEnv env;
  env.model = "mlp";
  env.model_params = {{"hidden", std::vector<int64_t>{16}}};
  env.train = &f.train;
  env.test = &f.test;
  env.partition = &f.partition;
  env.malicious_clients = {0, 1, 2};
  env.local_batch_size = 16;
  env.rounds = 5;
  env.clients_per_round = 10;
  env.seed = Seed(77);
  // Final test error of FedAvg over 5 rounds of all 10 clients.
  auto run = [&](bool attacked, AttackReport* report) {
    StatusOr<std::unique_ptr<FederatedEngine>> e =
        FederatedEngine::Create(FederatedOptionsOf(env), SetupFor(env, Seed(5)));
    EXPECT_TRUE(e.ok()) << e.status();
    if (!e.ok()) return -1.0;
    AttackPtr a = attacked ? AttachAttack(**e, "reversed_mean", {{"scale", 2.0}}, env) : nullptr;
    StatusOr<FederatedResult> r = (*e)->Run();
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return -1.0;
    if (a) *report = ReportOf(*a);
    return 1.0 - r->final_test_accuracy;
  };
  AttackReport rep;
  const double clean = run(false, nullptr);
  const double attacked = run(true, &rep);
  std::printf("reversed_mean scale 2, 3/10 devices, fedavg: test error %.3f -> %.3f\n", clean,
              attacked);
  EXPECT_LT(clean, 0.4);
  EXPECT_GT(attacked, clean + 0.2);
  EXPECT_TRUE(rep.received_input);
  EXPECT_EQ(rep.metrics["attacked_rounds"], 5.0);
  EXPECT_EQ(rep.metrics["skipped_rounds"], 0.0);
  EXPECT_GT(rep.metrics["mean_crafted_length"], 0.0);
  EXPECT_NEAR(rep.metrics["test_error"], attacked, 1e-9);
}

// docs/extending.md section 5 quotes the trial in full and the errors its
// steps show; both must be what the code does.
TEST(ReversedMeanTest, ExtendingPageShowsTheFileAndItsErrors) {
  const std::string doc = ReadSource("docs/extending.md");
  ExpectDocListsFile(doc, "tests/attacks/reversed_mean_attack.cc");

  AttackEnv env;
  Status zero = CreateAttack("reversed_mean", {{"scale", 0.0}}, env).status();
  EXPECT_EQ(zero.code(), StatusCode::kInvalidArgument);
  const std::string range = "0 is out of range (expected number > 0)";
  EXPECT_NE(std::string(zero.message()).find(range), std::string::npos) << zero;
  EXPECT_NE(doc.find("attack.scale: " + range), std::string::npos);
  Status typo = CreateAttack("reversed_mean", {{"scael", 1.0}}, env).status();
  EXPECT_NE(std::string(typo.message()).find("scale"), std::string::npos) << typo;
  EXPECT_NE(doc.find("(did you mean 'attack.scale'?)"), std::string::npos);
}

}  // namespace
}  // namespace confml::attacks
