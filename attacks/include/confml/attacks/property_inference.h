// confml/attacks/property_inference.h: passive property inference from
// consecutive global models by a malicious device (Melis et al., "Exploiting
// Unintended Feature Leakage in Collaborative Learning", S&P 2019).
//
// The attacker is the first device in AttackEnv::malicious_clients. Every
// round it takes part in, the protocol hands it the global model
// (OnGlobalModel). When it holds the models of two consecutive rounds t and
// t+1, their difference is round t's aggregated update: its own update plus
// the other participants'. From the model of round t it then trains, on its
// auxiliary data, simulated clients whose data has the property (e.g. holds
// images of class Bag) and simulated clients whose data has not, mixes them
// into simulated co-participant sums of the round's size, and keeps those as
// labelled examples. The observed aggregate minus its own update (equal
// FedAvg weights assumed) is the real co-participant sum. Every sum is scaled
// to unit norm and standardised by its round's simulated sums (update scale
// shrinks over rounds; victims' data is memorised, the simulated is fresh).
// After the run a logistic-regression property classifier trained on every
// round's examples scores each observed round: does one of the round's
// other participants hold the property? Ground truth (scoring only) comes
// from the partition: a victim holds the property when at least
// `holder_min_fraction` of its samples have label `property_class`.
//
// Success metric: AUC over the observed rounds (blind guess 0.5). An attacker
// that never received two consecutive models (refused by attestation, never
// sampled twice in a row) reports the blind guess with received_input=false.
//
//   CONFML_RETURN_IF_ERROR(attacks::RegisterPropertyInferenceAttack());
//   StatusOr<AttackPtr> a = CreateAttack("property_inference",
//                                        {{"property_class", int64_t{8}}}, env);
//   engine->AddHooks(*a);  ... run ...
//   (*a)->Report()->metrics["auc"];
//
// Parameters are declared once in the registered ComponentSpec (see
// docs/attacks/property_inference.md). Hooks run on the engine's thread; the
// attack is not meant to be shared between engines.
#pragma once

#include "confml/core/status.h"

namespace confml::attacks {

// Adds "property_inference" to AttackRegistry(). Idempotent, thread-safe.
Status RegisterPropertyInferenceAttack();

}  // namespace confml::attacks
