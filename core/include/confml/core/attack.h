// confml/core/attack.h: the Attack interface and its registry (no LibTorch).
//
// An attack is a code module attached to one role (runtime, device or host).
// It sees exactly what the federated engine's hooks (fl_hooks.h) hand that
// role, so when the protocol refuses it bytes (an attested device will not
// send its update to an unadmitted runtime; a realm refuses the host's memory
// read) the attack really gets nothing and its measured success falls to the
// blind-guess level. Attacks never look at ground truth except to score
// themselves in Report().
//
//   StatusOr<AttackPtr> a = CreateAttack("dlg", {{"iterations", int64_t{300}}}, env);
//   engine->AddHooks(*a);
//   ... run ...
//   AttackReport r = (*a)->Report();   // r.metrics["psnr"], r.success_metric
//
// The confml::attacks module registers the built-in attacks with
// RegisterBuiltinAttacks(); Python classes may add more at run time.
// Adding an attack = one .cc file that implements Attack and registers a
// ComponentSpec + factory, plus one config that names it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "confml/core/dataset.h"
#include "confml/core/fl_hooks.h"
#include "confml/core/params.h"
#include "confml/core/registry.h"
#include "confml/core/seed.h"
#include "confml/core/status.h"
#include "confml/core/thread_scope.h"

namespace confml {

// Who runs the attack code (which role's Program contains the module).
enum class AttackRole { kRuntime, kDevice, kHost };
std::string_view AttackRoleName(AttackRole role);  // "runtime", "device", "host"

// What the world looks like to the attack when it is created: the model
// architecture (public: every party runs the same open code), the data the
// attacker legitimately holds or uses for scoring, and who is malicious.
struct AttackEnv {
  std::string model;  // ModelRegistry name
  std::map<std::string, ParamValue> model_params;
  // Borrowed, outlive the attack. `train` is the federation's training set
  // (for scoring reconstructions against the victims' true samples and for
  // device attacks that need their own shard); `test` the held-out set.
  const Dataset* train = nullptr;
  const Dataset* test = nullptr;
  // Client id -> indices into *train.
  const std::vector<std::vector<int64_t>>* partition = nullptr;
  // Device attacks act only for these clients (the devices whose Program
  // holds the attack module). Empty for runtime and host attacks.
  std::set<int64_t> malicious_clients;
  // The federation's local-training recipe (what honest devices do).
  int64_t local_epochs = 1;
  int64_t local_steps = 0;  // Minibatch steps cap per round; 0: none.
  int64_t local_batch_size = 32;
  std::string optimizer = "sgd";
  double learning_rate = 0.05;
  int64_t rounds = 1;
  int64_t clients_per_round = 1;
  // The runtime's step on the aggregate (FederatedOptions::server_lr): public
  // protocol, so an attack that predicts the next global model may use it.
  double server_lr = 1.0;
  Seed seed{0};  // The attack's own stream: derive children by name.
};

// A named float array stored with the results (e.g. reconstructions with
// shape {n, 1, 28, 28}).
struct AttackArray {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

struct AttackReport {
  std::string attack;          // registered name
  std::string success_metric;  // key in `metrics` that the matrix reports
  // Whether a larger success metric means a more successful attack (PSNR,
  // AUC, success rate: yes; MSE: no).
  bool higher_is_better = true;
  // The success metric of an attacker who received nothing it needs (a
  // blind guess): e.g. AUC 0.5, the PSNR of the uniform-prior guess.
  double blind_guess = 0.0;
  // False when the protocol never handed the attack the bytes it needs; the
  // metrics are then those of its blind guess.
  bool received_input = false;
  std::map<std::string, double> metrics;
  std::vector<AttackArray> arrays;
  std::string note;  // one line for people: what happened
};

class Attack : public FederatedHooks {
 public:
  virtual std::string name() const = 0;
  virtual AttackRole role() const = 0;
  // Parameters as text, e.g. "dlg iterations=300"; part of the attacker's
  // Program (and so of its measurement).
  virtual std::string config_text() const { return name(); }
  // True for data poisoning: the device runs the honest Program (its
  // measurement unchanged) on data the attacker feeds it, so attestation
  // admits it. False (default): the module is code in its role's Program.
  virtual bool honest_code() const { return false; }
  // Runs whatever remains (e.g. the optimisation on the captured gradients)
  // and scores the attack. Called once, after the run. ComputeReport() runs
  // at one LibTorch intra-op thread (thread_scope.h; defined in
  // confml::core_ml) whoever calls, so a call through the C++ API or Python
  // gives the runner's numbers at any thread count.
  StatusOr<AttackReport> Report() {
    OneIntraOpThread one_thread;
    return ComputeReport();
  }

 protected:
  // What Report() computes; an attack implements this.
  virtual StatusOr<AttackReport> ComputeReport() = 0;
};
using AttackPtr = std::shared_ptr<Attack>;

using AttackFactory = std::function<StatusOr<AttackPtr>(const ParamSet&, const AttackEnv&)>;
// Kind "attack".
Registry<AttackFactory>& AttackRegistry();

// Looks up `name`, resolves `params` and builds it. NotFound naming the
// nearest attack; InvalidArgument for bad parameters.
StatusOr<AttackPtr> CreateAttack(const std::string& name,
                                 const std::map<std::string, ParamValue>& params,
                                 const AttackEnv& env);

}  // namespace confml
