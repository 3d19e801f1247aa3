// confml/attacks/membership.h: membership inference by a malicious device,
// and the ROC math that scores it.
//
// Two attacks (docs/attacks/membership.md cites both):
// - membership_loss: Yeom et al. (CSF 2018) loss threshold; the score of a
//   sample is minus the model's cross-entropy on it;
// - membership_shadow: Shokri et al. (S&P 2017) shadow models of the same
//   architecture trained on the attacker's own data, and an attack model
//   (one per class, or a single one) on the target's prediction vectors.
// The attacker is the first device in AttackEnv::malicious_clients. It keeps
// the global models the protocol hands it (OnGlobalModel) and, once admitted,
// the final global model. Members are training samples of the other
// (victim) clients; non-members are test samples the attacker did not use as
// shadow data. A device that never received a model reports the blind guess
// (AUC 0.5, received_input = false).
//
//   CONFML_RETURN_IF_ERROR(attacks::RegisterMembershipAttacks());
//   StatusOr<AttackPtr> a = CreateAttack("membership_loss", {}, env);
//   ... run ...  (*a)->Report()->metrics["auc"], ["tpr_at_1pct_fpr"]
//
//   StatusOr<RocCurve> roc = ComputeRoc({0.9, 0.2, 0.7}, {1, 0, 0});
//   roc->auc;  // 1.0
#pragma once

#include <cstdint>
#include <vector>

#include "confml/core/status.h"

namespace confml::attacks {

// Adds membership_loss and membership_shadow to AttackRegistry(). Idempotent.
Status RegisterMembershipAttacks();

struct RocPoint {
  double fpr = 0.0;
  double tpr = 0.0;
};

// The ROC of "score >= t means member" over every threshold t: points from
// (0, 0) to (1, 1), one per distinct score (tied scores move both rates at
// once). auc is the area under it by the trapezoid rule, which equals the
// Mann-Whitney probability that a random member outscores a random
// non-member, ties counting one half.
struct RocCurve {
  std::vector<RocPoint> points;
  double auc = 0.5;
};

// labels: 1 member, 0 non-member. InvalidArgument for sizes that differ, a
// label other than 0/1, a non-finite score, or no sample of either class.
StatusOr<RocCurve> ComputeRoc(const std::vector<double>& scores, const std::vector<int>& labels);

// The largest TPR at a threshold whose FPR is <= max_fpr (0 if none but the
// empty one).
double TprAtFpr(const RocCurve& roc, double max_fpr);

// max over thresholds of TPR - FPR: Yeom et al.'s membership advantage of the
// best threshold.
double MaxAdvantage(const RocCurve& roc);

}  // namespace confml::attacks
