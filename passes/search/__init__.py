"""bitsmith.passes.search: the searches passes run (bit allocation, tiling);
each scores candidates with a given cost and never changes a graph itself."""
