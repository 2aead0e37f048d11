"""bitsmith.passes: graph transformations (datatype assignment, bit allocation, tiling, fusion)."""
