# Code modules and their build-time digests (see core/program.h).
#
# A Program (the image a party's realm is loaded with) lists code modules;
# each module's digest is a SHA-256 over its source files, so editing any of
# them, or adding attack code to a role, changes that role's measurement the
# way rebuilding a binary would. The table is generated at BUILD time by
# cmake/HashCodeModules.cmake, which reruns whenever a listed file changes.
#
# A module is a name and a set of files (paths relative to the repository,
# so digests do not depend on where the repository is checked out).

set(_confml_modules "")
macro(_confml_code_module name)
  set(_files "")
  foreach(pattern ${ARGN})
    file(GLOB _matched CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}
         ${PROJECT_SOURCE_DIR}/${pattern})
    list(APPEND _files ${_matched})
  endforeach()
  list(SORT _files)
  list(REMOVE_DUPLICATES _files)
  foreach(f ${_files})
    string(APPEND _confml_modules "${name}\t${f}\n")
    list(APPEND CONFML_CODE_MODULE_FILES ${PROJECT_SOURCE_DIR}/${f})
  endforeach()
endmacro()

set(CONFML_CODE_MODULE_FILES "")
_confml_code_module(core core/src/*.cc core/include/confml/core/*.h)
_confml_code_module(core_ml core/src/ml/*.cc)
_confml_code_module(tee_sim tee_sim/src/*.cc tee_sim/include/confml/tee_sim/*.h)
_confml_code_module(defenses defenses/src/*.cc defenses/include/confml/defenses/*.h)
_confml_code_module(attacks attacks/src/*.cc attacks/include/confml/attacks/*.h)
foreach(role model_provider device runtime verifier)
  _confml_code_module(role.${role} experiments/src/role_${role}.cc)
endforeach()
# The roles-as-processes code (built only with CONFML_WITH_GRPC; hashed always).
_confml_code_module(net net/src/*.cc net/src/*.h net/include/confml/net/*.h proto/*.proto)
_confml_code_module(roles_common experiments/src/parties.cc experiments/src/roles.h
                    experiments/include/confml/experiments/parties.h)

set(CONFML_CODE_MODULES_MANIFEST ${PROJECT_BINARY_DIR}/generated/code_modules.txt)
set(CONFML_CODE_MODULES_CC ${PROJECT_BINARY_DIR}/generated/code_modules.cc)
file(MAKE_DIRECTORY ${PROJECT_BINARY_DIR}/generated)
file(CONFIGURE OUTPUT ${CONFML_CODE_MODULES_MANIFEST} CONTENT "${_confml_modules}")

# core/CMakeLists.txt attaches the rule that generates CONFML_CODE_MODULES_CC
# (a custom command's output must be used by a target of the same directory).
