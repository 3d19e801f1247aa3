#include <mutex>

#include "confml/attacks/attacks.h"
#include "confml/attacks/inversion.h"
#include "confml/attacks/membership.h"
#include "confml/attacks/poisoning.h"
#include "confml/attacks/property_inference.h"

namespace confml::attacks {

Status RegisterBuiltinAttacks() {
  static std::once_flag once;
  static Status result = OkStatus();
  std::call_once(once, [] {
    // Each attack family registers its modules here.
    if (Status s = RegisterInversionAttacks(); !s.ok()) result = s;
    if (Status s = RegisterPoisoningAttacks(); !s.ok() && result.ok()) result = s;
    if (Status s = RegisterMembershipAttacks(); !s.ok() && result.ok()) result = s;
    if (Status s = RegisterPropertyInferenceAttack(); !s.ok() && result.ok()) result = s;
  });
  return result;
}

}  // namespace confml::attacks
