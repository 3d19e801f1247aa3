#include "confml/tee_sim/cost_model.h"

namespace confml::tee_sim {
namespace {

// Numbers and their sources: docs/tee_sim.md, "Cost model". Keep the two in
// step when a number changes.
std::vector<CostProfile> Profiles() {
  return {
      {"fvp", 4.0e-3, 2.0e-8, 5.0e-8, 0.25,
       "Arm FVP (functional model, not cycle accurate): orders of magnitude from the "
       "published FVP runs cited in docs/tee_sim.md",
       true},
      {"hardware-estimate", 5.0e-6, 1.0e-10, 5.0e-10, 2.0e-3,
       "Estimates for RME hardware from published realm-exit and crypto figures; see "
       "docs/tee_sim.md",
       true},
      {"zero", 0, 0, 0, 0, "No modeled overhead (functional simulation only).", false},
  };
}

}  // namespace

StatusOr<CostProfile> FindCostProfile(std::string_view name) {
  std::string known;
  for (const CostProfile& p : Profiles()) {
    if (p.name == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  return NotFoundError("unknown cost profile '" + std::string(name) + "'; known: " + known);
}

std::vector<std::string> CostProfileNames() {
  std::vector<std::string> names;
  for (const CostProfile& p : Profiles()) names.push_back(p.name);
  return names;
}

void CostMeter::ChargeEntryExit(uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  cost_.realm_entries += n;
  cost_.entry_exit_seconds += static_cast<double>(n) * profile_.entry_exit_seconds;
}

void CostMeter::ChargeCopy(uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  cost_.bytes_copied += bytes;
  cost_.copy_seconds += static_cast<double>(bytes) * profile_.copy_seconds_per_byte;
}

void CostMeter::ChargeCrypto(uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  cost_.bytes_crypted += bytes;
  cost_.crypto_seconds += static_cast<double>(bytes) * profile_.crypto_seconds_per_byte;
}

void CostMeter::ChargeToken() {
  std::lock_guard<std::mutex> lock(mu_);
  ++cost_.tokens;
  cost_.attestation_seconds += profile_.token_seconds;
}

TeeCost CostMeter::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cost_;
}

}  // namespace confml::tee_sim
