// Shared by the property-inference tests: a small Fashion-MNIST federation
// with one Bag holder, and hooks that refuse devices.
#pragma once

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../common/data_util.h"
#include "confml/attacks/attacks.h"
#include "confml/attacks/property_inference.h"
#include "confml/core/attack.h"
#include "confml/core/federated.h"
#include "federation_util.h"

namespace confml::attacks {
namespace {

constexpr int64_t kBag = 8;
const std::string kDir = "/usr/share/datasets/fashion-mnist";

// The runtime refuses these devices (as a failed attestation would): they get
// no global model and send nothing.
class RefuseClients : public FederatedHooks {
 public:
  explicit RefuseClients(std::set<int64_t> ids) : ids_(std::move(ids)) {}
  Admission AdmitClient(const ClientContext& c) override {
    if (ids_.count(c.client_id)) return {false, "measurement not in policy"};
    return {};
  }

 private:
  std::set<int64_t> ids_;
};

class PropertyInferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kDir + "/t10k-images-idx3-ubyte.gz")) {
      GTEST_SKIP() << "no Fashion-MNIST";
    }
    ASSERT_TRUE(RegisterBuiltinAttacks().ok());
    StatusOr<Dataset> all = LoadFashionMnist(kDir, Split::kTest);
    ASSERT_TRUE(all.ok()) << all.status();
    // First 6000 test images: the federation's training data; the rest: the
    // held-out set the attacker draws its auxiliary data from.
    testing::SplitAt(*all, 6000, all->size(), &train_, &test_);
  }

  // `clients` devices of 300 samples: client 0 the attacker (IID), the
  // victims 1.. alternate between 30 % Bag (odd ids up to `holders`) and no
  // Bag at all.
  Partition MakePartition(int64_t clients, int64_t holders) const {
    std::vector<int64_t> bags, others;
    for (int64_t i = 0; i < train_.size(); ++i) {
      (train_.labels[static_cast<size_t>(i)] == kBag ? bags : others).push_back(i);
    }
    Partition p(static_cast<size_t>(clients));
    size_t nb = 0, no = 0, all = 0;
    for (int64_t c = 0; c < clients; ++c) {
      auto& shard = p[static_cast<size_t>(c)];
      if (c == 0) {
        for (int64_t k = 0; k < 300; ++k) shard.push_back(all++ * 7 % train_.size());
        continue;
      }
      const bool holder = c <= holders;
      const int64_t n_bag = holder ? 90 : 0;
      for (int64_t k = 0; k < n_bag; ++k) shard.push_back(bags[nb++ % bags.size()]);
      for (int64_t k = n_bag; k < 300; ++k) shard.push_back(others[no++ % others.size()]);
    }
    return p;
  }

  AttackReport Run(int64_t clients, int64_t per_round, int64_t holders, int64_t rounds,
                   bool refuse_attacker, const std::map<std::string, ParamValue>& params = {},
                   uint64_t seed = 3) {
    partition_ = MakePartition(clients, holders);
    AttackEnv env;
    env.model = "mlp";
    env.model_params = {{"hidden", std::vector<int64_t>{32}}};
    env.train = &train_;
    env.test = &test_;
    env.partition = &partition_;
    env.malicious_clients = {0};
    env.local_epochs = 1;
    env.local_batch_size = 32;
    env.learning_rate = 0.05;
    env.rounds = rounds;
    env.clients_per_round = per_round;
    env.seed = Seed(seed + 2);
    env.server_lr = server_lr_;
    StatusOr<AttackPtr> attack = CreateAttack("property_inference", params, env);
    EXPECT_TRUE(attack.ok()) << attack.status();
    if (!attack.ok()) return {};

    FederatedOptions options = FederatedOptionsOf(env);
    if (engine_server_lr_ > 0) options.server_lr = engine_server_lr_;
    auto engine = FederatedEngine::Create(options, SetupFor(env, Seed(seed)));
    EXPECT_TRUE(engine.ok()) << engine.status();
    if (!engine.ok()) return {};
    if (refuse_attacker) (*engine)->AddHooks(std::make_shared<RefuseClients>(std::set<int64_t>{0}));
    if (observer_) (*engine)->AddHooks(observer_);
    (*engine)->AddHooks(*attack);
    auto run = (*engine)->Run();
    EXPECT_TRUE(run.ok()) << run.status();
    StatusOr<AttackReport> r = (*attack)->Report();
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : AttackReport{};
  }

  Dataset train_, test_;
  Partition partition_;
  // The runtime's step as the attack knows it (AttackEnv::server_lr) and, when
  // positive, a different step the engine really takes.
  double server_lr_ = 1.0;
  double engine_server_lr_ = 0.0;
  // Attached to the engine after the attack when set.
  std::shared_ptr<FederatedHooks> observer_;
};

}  // namespace
}  // namespace confml::attacks
