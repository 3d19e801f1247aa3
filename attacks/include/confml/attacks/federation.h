// The federation an AttackEnv describes, as FederatedOptions: what attacks
// that simulate an honest device train with (through ClientTrainOptions in
// core/federated.h), and what tests give the engine they attach an attack to.
//
//   FederatedOptions fl = FederatedOptionsOf(env);
//   Trainer(ClientTrainOptions(fl)).FitSubset(model, data, indices, seed);
#pragma once

#include "confml/core/attack.h"
#include "confml/core/federated.h"

namespace confml::attacks {

// The env's rounds, clients per round, local recipe (epochs, steps, batch
// size, optimizer and learning rate) and server step; evaluation after the
// last round only.
inline FederatedOptions FederatedOptionsOf(const AttackEnv& env) {
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

}  // namespace confml::attacks
