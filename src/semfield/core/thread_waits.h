// How idle worker threads wait: set before the thread libraries load, so programs call this first thing in main().
#pragma once

namespace semfield {

/// Makes idle worker threads sleep soon instead of spinning, unless the user chose otherwise in the environment:
///   OMP_WAIT_POLICY=PASSIVE   GNU OpenMP (LibTorch's ops, parallel_for) spins after every parallel region by
///                             default; on 2 cores shared with anything else a distillation step measured 3x slower;
///   OPENBLAS_THREAD_TIMEOUT=4 OpenBLAS's workers spin (sched_yield) for 2^28 cycles, ~0.1 s, after every GEMM by
///                             default, taking a core from the OpenMP thread or the caller's next op: SAM's decoder on
///                             a rendered embedding 97 -> 73 ms, a weight-free click 38 -> 30 ms on a 2-core VM.
/// Both libraries read these only when they load, so the process re-executes itself (/proc/self/exe, same argv)
/// once with them set; this returns when nothing needed setting or the re-exec failed (then the defaults apply).
/// A dedicated machine may prefer OMP_WAIT_POLICY=ACTIVE.
void reexec_with_sleeping_thread_waits(char** argv);

}  // namespace semfield
