// confml/tee_sim/sim_backend.h: TeeBackend "sim", realms on the simulated
// CCA platform of rmm.h, driven as a host (kvmtool-like loader) would.
//
//   RegisterSimTeeBackend();                         // once, adds "sim"
//   auto tee = NewTeeBackend("sim", {{"cost_profile", std::string("fvp")}});
//   // or directly:
//   auto tee = NewSimTeeBackend(SimOptions{});
//   auto realm = (*tee)->CreateRealm(image, RealmParams{});
//
// Loading follows what a VMM does for a realm: RMI_REALM_CREATE,
// RMI_RTT_INIT_RIPAS over the realm's whole memory, one measured
// RMI_DATA_CREATE per image granule (IPA load_ipa + 4 KiB * i, the last
// granule zero padded), RMI_DATA_CREATE_UNKNOWN for the private memory and
// one RSI buffer granule, RMI_REC_CREATE per REC (REC 0 runnable at
// entry_pc with boot_gprs), RMI_REALM_ACTIVATE. ComputeReferenceRim performs
// the same sequence on a private platform to give the reference RIM a
// verifier's policy needs (the `measure` command).
//
// Thread-safe, as TeeBackend promises.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "confml/core/status.h"
#include "confml/core/tee_backend.h"
#include "confml/tee_sim/rmm.h"

namespace confml::tee_sim {

struct SimOptions {
  RmmOptions rmm;                    // the simulated platform
  std::string cost_profile = "fvp";  // see cost_model.h
};

StatusOr<std::unique_ptr<TeeBackend>> NewSimTeeBackend(SimOptions options);

// The simulated platform behind a backend made by NewSimTeeBackend (for the
// CPAK trust anchor, tests, and direct RMI access); nullptr for any other.
Rmm* SimPlatform(TeeBackend& backend);

// The RIM a realm loaded from `image` with `params` gets.
StatusOr<std::vector<uint8_t>> ComputeReferenceRim(std::span<const uint8_t> image,
                                                   const RealmParams& params);

// Adds "sim" (params: cost_profile, rak_scope, platform_seed_hex) to
// TeeBackendRegistry(). Idempotent; thread-safe.
Status RegisterSimTeeBackend();

}  // namespace confml::tee_sim
