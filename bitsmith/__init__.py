"""bitsmith: co-design simulator and compiler for low-bit neural-network inference."""
