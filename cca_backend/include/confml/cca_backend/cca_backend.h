// confml/cca_backend/cca_backend.h: TeeBackend "cca", a real Arm CCA realm
// on an aarch64 Linux guest, reached through the kernel's interfaces only.
//
//   RegisterCcaTeeBackend();                             // once, adds "cca"
//   auto tee = NewTeeBackend("cca", {{"configfs_root", std::string("/sys/kernel/config/tsm")}});
//   auto realm = (*tee)->CreateRealm(image, RealmParams{});   // this process's realm
//   auto token = (*realm)->AttestationToken(challenge);      // from configfs-tsm
//
// confml itself runs INSIDE the realm. "Creating a realm" therefore does not
// create or load anything: the VMM (kvmtool, QEMU) created the realm and the
// RMM measured what the VMM loaded before confml started. CreateRealm checks
// that configfs-tsm is there and returns a handle on the realm this process
// already runs in; `image` is not loaded and not measured by us; it only
// sizes the realm-private buffer behind ReadMemory/WriteMemory (this
// process's memory, which the hardware protects). The measurements are what
// the RMM reports in the token: ReadMeasurement(0) is the token's RIM claim,
// 1..4 its REM claims. To check that the realm runs a given Program, a
// verifier compares the token's RIM with `confml measure` of that image.
//
// What Linux (6.x) exposes to a realm's user space is only the attestation
// report; so:
//   attestation          supported (configfs-tsm, provider arm_cca_guest)
//   measurement          supported (read from a fresh token's claims)
//   measurement_extend   Unimplemented: RSI_MEASUREMENT_EXTEND has no
//                        user-space interface in the kernel
//   sealing              Unimplemented: CCA 1.0 defines no sealing-key RSI
//                        call and the kernel exposes none
//   host_memory_read     not supported: code in the realm cannot act as the
//                        host; HostRead returns Unimplemented (on hardware
//                        the host's access would fault)
//   isolation            provided by the hardware (RME), not by confml
//   cost_model           none: the times measured are the real ones
// RealmParams are validated but cannot be applied (the VMM chose them).
//
// Thread-safe. Several Runs may proceed at once (there is no REC to claim
// from user space; the kernel schedules our threads on the realm's vCPUs).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "confml/cca_backend/configfs_tsm.h"
#include "confml/core/status.h"
#include "confml/core/tee_backend.h"

namespace confml::cca_backend {

struct CcaOptions {
  // The configfs-tsm client; its root defaults to /sys/kernel/config/tsm.
  ConfigfsTsmOptions tsm;
  // Challenge of the token requested for ReadMeasurement (64 bytes). Unset
  // (default): 64 random bytes per read. Freshness does not matter for a
  // read of our own measurements (the token comes straight from the RMM);
  // tests set it so that a recorded token can answer.
  std::optional<std::vector<uint8_t>> measurement_read_challenge;
};

std::unique_ptr<TeeBackend> NewCcaTeeBackend(CcaOptions options);

// Adds "cca" (param: configfs_root) to TeeBackendRegistry(). Idempotent;
// thread-safe.
Status RegisterCcaTeeBackend();

}  // namespace confml::cca_backend
