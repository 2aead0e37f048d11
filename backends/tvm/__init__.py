"""bitsmith.backends.tvm: annotated graphs to real CPU code through Apache TVM.

`packing` lays quantised weights out as packed words, `kernels` builds the TIR
GEMM kernels that read them, `runtime` compiles, runs and times them. This
package is named `tvm` inside `bitsmith.backends`; with absolute imports its
modules still `import tvm` as Apache TVM.
"""
