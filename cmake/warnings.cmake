# Warning and optimisation flags shared by every semfield target.
function(semfield_target_flags target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
  if(SEMFIELD_NATIVE)
    target_compile_options(${target} PRIVATE -march=native)
  endif()
endfunction()
