// confml/attacks/attacks.h: registers every built-in attack module in
// AttackRegistry() (core/attack.h).
//
//   CONFML_RETURN_IF_ERROR(attacks::RegisterBuiltinAttacks());
//   StatusOr<AttackPtr> a = CreateAttack("dlg", {}, env);
#pragma once

#include "confml/core/status.h"

namespace confml::attacks {

// Idempotent and thread-safe.
Status RegisterBuiltinAttacks();

}  // namespace confml::attacks
