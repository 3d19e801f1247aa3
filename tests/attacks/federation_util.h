// The federation an AttackEnv describes, for tests that attach an attack to a
// FederatedEngine: the engine's honest devices then train exactly as the
// env says they do (what attacks that simulate a device assume).
//
//   AttackEnv env = ...;
//   StatusOr<AttackPtr> a = CreateAttack("membership_loss", {}, env);
//   auto engine = FederatedEngine::Create(FederatedOptionsOf(env), SetupFor(env, Seed(8)));
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "../common/data_util.h"
#include "confml/attacks/federation.h"
#include "confml/core/attack.h"
#include "confml/core/federated.h"
#include "confml/core/partition.h"

namespace confml::attacks {

// The env's model, data and partition (which must be set) with the engine's
// own `seed`.
inline FederatedSetup SetupFor(const AttackEnv& env, Seed seed) {
  FederatedSetup s;
  s.model = env.model;
  s.model_params = env.model_params;
  s.train = env.train;
  s.test = env.test;
  s.partition = *env.partition;
  s.seed = seed;
  return s;
}

// Creates attack `name` for `env` and attaches it to `engine`; null, with a
// failed expectation, if it cannot be made.
inline AttackPtr AttachAttack(FederatedEngine& engine, const std::string& name,
                              const std::map<std::string, ParamValue>& params,
                              const AttackEnv& env) {
  StatusOr<AttackPtr> made = CreateAttack(name, params, env);
  EXPECT_TRUE(made.ok()) << made.status();
  if (!made.ok()) return nullptr;
  engine.AddHooks(*made);
  return *made;
}

// The attack's report after its run; an empty report, with a failed
// expectation, if it cannot be computed.
inline AttackReport ReportOf(Attack& attack) {
  StatusOr<AttackReport> r = attack.Report();
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : AttackReport{};
}

// The small synthetic federation of the colluding-attack tests: 1,000
// training and 500 test samples (20 features, 4 classes, MakeSynthetic seed
// 3; every third sample to test), split IID over 10 clients.
struct SyntheticFederation {
  Dataset train, test;
  Partition partition;
};

inline Status MakeSyntheticFederation(SyntheticFederation* f) {
  SyntheticOptions o;
  o.num_samples = 1500;
  o.num_features = 20;
  o.num_classes = 4;
  o.separation = 1.0;
  CONFML_ASSIGN_OR_RETURN(Dataset all, MakeSynthetic(o, Seed(3)));
  testing::SplitEvery(all, 3, &f->train, &f->test);
  CONFML_ASSIGN_OR_RETURN(f->partition,
                          PartitionIid(f->train.labels, 10, Seed(4).Child("partition")));
  return OkStatus();
}

}  // namespace confml::attacks
