"""bitsmith: co-design simulator and compiler for low-bit neural-network inference."""


def __getattr__(name: str) -> object:
    """`bitsmith.simulate`, imported on first use so `import bitsmith` (and the
    CLI's start) stays quick."""
    if name == "simulate":
        from bitsmith.simulator.simulate import simulate

        return simulate
    raise AttributeError(f"module 'bitsmith' has no attribute {name!r}")
