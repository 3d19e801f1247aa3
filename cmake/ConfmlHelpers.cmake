# Helpers shared by every module's CMakeLists.txt.

# confml_warnings(TARGET): the project's warning set.
function(confml_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
endfunction()

# confml_torch_pch(TARGET): compile TARGET with the shared LibTorch precompiled
# header. The first target that asks builds it; later ones reuse it, which
# saves ~30 s of parsing <torch/torch.h> per translation unit on two cores.
function(confml_torch_pch target)
  if(NOT CONFML_USE_PCH OR NOT TARGET ${target})
    return()
  endif()
  # Every user of the shared PCH must compile with the same flags; OpenMP's
  # -fopenmp is the one that differs otherwise.
  target_link_libraries(${target} PRIVATE OpenMP::OpenMP_CXX)
  # Executables compile as PIE, the owning library as PIC, and GCC ignores a
  # PCH built with other -fpie/-fpic settings (-Winvalid-pch); a later -fPIC
  # overrides -fPIE.
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    target_compile_options(${target} PRIVATE -fPIC)
  endif()
  get_property(owner GLOBAL PROPERTY CONFML_TORCH_PCH_OWNER)
  if(NOT owner)
    target_precompile_headers(${target} PRIVATE <torch/torch.h> <vector> <string> <memory>)
    set_property(GLOBAL PROPERTY CONFML_TORCH_PCH_OWNER ${target})
  else()
    target_precompile_headers(${target} REUSE_FROM ${owner})
  endif()
endfunction()
