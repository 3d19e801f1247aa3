// confml/tee_sim/cost_model.h: the simulator's model of what realm execution
// costs on a given platform, in seconds, kept apart from measured time.
//
//   StatusOr<CostProfile> p = FindCostProfile("fvp");
//   CostMeter meter(*p);
//   meter.ChargeEntryExit();        // one REC enter + exit
//   meter.ChargeCopy(4096);         // bytes through shared memory
//   TeeCost c = meter.Snapshot();   // c.total_seconds()
//
// Profiles and the sources of their numbers are listed in docs/tee_sim.md;
// every number that is an assumption rather than a published measurement is
// marked so there and in `assumed`:
//   "hardware-estimate": copy, AEAD and token cost are cited Arm-server
//     measurements; realm entry+exit (5 us) is a labelled assumption (no
//     published RME figure exists), so `assumed` is true.
//   "fvp": all four numbers are assumptions (the FVP is not cycle accurate
//     and no per-operation FVP timing is published).
//   "zero": no modeled cost.
// CostMeter is thread-safe.
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "confml/core/status.h"
#include "confml/core/tee_backend.h"

namespace confml::tee_sim {

struct CostProfile {
  std::string name;
  double entry_exit_seconds = 0;       // one realm entry + exit round trip
  double copy_seconds_per_byte = 0;    // copy through shared memory
  double crypto_seconds_per_byte = 0;  // AEAD inside the realm
  double token_seconds = 0;            // one attestation token (sign + collect)
  std::string source;                  // where the numbers come from
  bool assumed = false;                // some number is an assumption
};

// "fvp", "hardware-estimate", "zero". NotFound naming the known profiles.
StatusOr<CostProfile> FindCostProfile(std::string_view name);
std::vector<std::string> CostProfileNames();

class CostMeter {
 public:
  explicit CostMeter(CostProfile profile) : profile_(std::move(profile)) {
    cost_.profile = profile_.name;
  }
  void ChargeEntryExit(uint64_t n = 1);
  void ChargeCopy(uint64_t bytes);
  void ChargeCrypto(uint64_t bytes);
  void ChargeToken();
  TeeCost Snapshot() const;
  const CostProfile& profile() const { return profile_; }

 private:
  const CostProfile profile_;
  mutable std::mutex mu_;
  TeeCost cost_;
};

}  // namespace confml::tee_sim
