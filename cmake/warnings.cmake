# Warning and optimisation flags shared by every semfield target.
function(semfield_target_flags target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
  if(SEMFIELD_NATIVE)
    target_compile_options(${target} PRIVATE -march=native)
  endif()
endfunction()

# Unity (jumbo) builds: a fresh build compiles a few large translation units instead of many small ones, because
# most of a file's compile time here is headers and their template instantiations, paid once per translation unit
# (docs/building.md). On by default (CI and first builds); -DSEMFIELD_UNITY_BUILD=OFF gives one unit per file for
# quick rebuilds of a single edited file.
option(SEMFIELD_UNITY_BUILD "Compile sources in batches (unity build)" ON)
# SEMFIELD_UNITY_BATCH_SIZE overrides every target's batch size; 0 puts each target into one translation unit, the
# check that no two of its files define the same helper (docs/building.md).
set(SEMFIELD_UNITY_BATCH_SIZE "" CACHE STRING "Override the unity batch size of every target (0: one batch)")
function(semfield_unity target batch_size)
  if(NOT SEMFIELD_UNITY_BATCH_SIZE STREQUAL "")
    set(batch_size ${SEMFIELD_UNITY_BATCH_SIZE})
  endif()
  if(SEMFIELD_UNITY_BUILD)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${batch_size})
  endif()
endfunction()
