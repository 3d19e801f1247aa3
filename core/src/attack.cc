#include "confml/core/attack.h"

namespace confml {

std::string_view AttackRoleName(AttackRole role) {
  switch (role) {
    case AttackRole::kRuntime:
      return "runtime";
    case AttackRole::kDevice:
      return "device";
    case AttackRole::kHost:
      return "host";
  }
  return "unknown";
}

Registry<AttackFactory>& AttackRegistry() {
  static auto* registry = new Registry<AttackFactory>("attack");
  return *registry;
}

StatusOr<AttackPtr> CreateAttack(const std::string& name,
                                 const std::map<std::string, ParamValue>& params,
                                 const AttackEnv& env) {
  CONFML_ASSIGN_OR_RETURN(const auto* entry, AttackRegistry().Lookup(name));
  CONFML_ASSIGN_OR_RETURN(ParamSet resolved, ResolveParams(entry->spec, params));
  CONFML_ASSIGN_OR_RETURN(AttackPtr attack, entry->factory(resolved, env));
  if (attack == nullptr) return InternalError("attack factory '" + name + "' returned null");
  return attack;
}

}  // namespace confml
