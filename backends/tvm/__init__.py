"""bitsmith.backends.tvm: annotated graphs to real CPU code through Apache TVM.

`packing` lays quantised weights out as packed words, `kernels` builds the TIR
GEMM kernels that read them (the float path; `int_kernels`, int8 activations on
VNNI, and `lut`, T-MAC-style tables, for integer formats), `runtime` compiles,
runs and times them, `tuning` picks a path and tile per layer. This
package is named `tvm` inside `bitsmith.backends`; with absolute imports its
modules still `import tvm` as Apache TVM.
"""
