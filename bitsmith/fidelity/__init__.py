"""bitsmith.fidelity: published figures of the modelled systems beside bitsmith's own.

`paper.py` restates BitMoD's analytical accounting; `accounting.py` costs a design in
that accounting and in the cycle model (with its parts removed one at a time);
`bitmod_study.py` turns both into the published figures; `tables.py` prints and plots;
`classic.py` simulates Stripes, Loom, Bit Fusion and LUT Tensor Core beside their papers' laws.
"""
