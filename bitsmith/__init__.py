"""bitsmith: co-design simulator and compiler for low-bit neural-network inference."""


def __getattr__(name: str) -> object:
    """`bitsmith.simulate` and `bitsmith.compile`, imported on first use so `import
    bitsmith` (and the CLI's start) stays quick."""
    if name == "simulate":
        from bitsmith.simulator.simulate import simulate

        return simulate
    if name == "compile":
        from bitsmith.compiler import compile_model

        return compile_model
    raise AttributeError(f"module 'bitsmith' has no attribute {name!r}")
