// The federation an AttackEnv describes, for tests that attach an attack to a
// FederatedEngine: the engine's honest devices then train exactly as the
// env says they do (what attacks that simulate a device assume).
//
//   AttackEnv env = ...;
//   StatusOr<AttackPtr> a = CreateAttack("membership_loss", {}, env);
//   auto engine = FederatedEngine::Create(OptionsFor(env), SetupFor(env, Seed(8)));
#pragma once

#include "confml/core/attack.h"
#include "confml/core/federated.h"

namespace confml::attacks {

// The env's rounds, clients per round, local recipe (epochs, steps, batch
// size, optimizer and learning rate) and server step; evaluation after the
// last round only.
inline FederatedOptions OptionsFor(const AttackEnv& env) {
  FederatedOptions o;
  o.rounds = env.rounds;
  o.clients_per_round = env.clients_per_round;
  o.local_epochs = env.local_epochs;
  o.local_steps = env.local_steps;
  o.local_batch_size = env.local_batch_size;
  o.optimizer.name = env.optimizer;
  o.optimizer.lr = env.learning_rate;
  o.server_lr = env.server_lr;
  o.eval_every = 0;
  return o;
}

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

}  // namespace confml::attacks
