"""bitsmith.backends.tvm: annotated graphs to real CPU code through Apache TVM.

`packing` lays quantised weights out as packed words, `kernels` builds the TIR
GEMM kernels that read them (the float path; `int_kernels`, int8 activations on
VNNI, and `lut`, T-MAC-style tables, for integer formats), `runtime` compiles,
runs and times them, `tuning` picks a path and tile per layer, `memory` keeps the weights on huge pages,
`threads` gives TVM one thread per core. `lower` turns a
whole graph into one Relax module (its packed GEMMs on the path `kernel_path`
picks), `cpu_schedule` schedules the Relax ops for the CPU, `graph_runtime`
builds, checks and times it. This
package is named `tvm` inside `bitsmith.backends`; with absolute imports its
modules still `import tvm` as Apache TVM.
"""

from bitsmith.backends.tvm.threads import size_thread_pool

size_thread_pool()  # before any kernel runs: TVM would otherwise use half the cores (`threads`)
