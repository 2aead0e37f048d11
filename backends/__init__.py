"""bitsmith.backends: code generation for real CPUs and GPUs (TVM)."""
