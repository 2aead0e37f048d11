"""Comparing the reference interpreter's arrays with torch's tensors.

One rule for every numeric test in tests/ir: the same shape, the same dtype, equal
NaN and infinity positions, and for floats a relative error
max|ours - torch| / max(max|torch|, tiny) of at most `tol` (1e-5 by default, for
fp32); integers and booleans must be equal exactly.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import torch

TOL = 1e-5
_TINY = 1e-30


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    tensor = tensor.detach().contiguous().cpu()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return tensor.numpy()


def rel_err(ours: np.ndarray, theirs: np.ndarray) -> float:
    """max|ours - theirs| / max|theirs| over the finite entries (0.0 when there are none)."""
    finite = np.isfinite(theirs)
    if not finite.any():
        return 0.0
    a, b = ours[finite].astype(np.float64), theirs[finite].astype(np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), _TINY))


def assert_matches(ours: np.ndarray, theirs: torch.Tensor | np.ndarray, tol: float = TOL, what: str = "output") -> None:
    """Raise AssertionError, naming `what`, unless `ours` equals torch's `theirs` by the rule above."""
    expected = to_numpy(theirs) if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    ours = np.asarray(ours)
    assert ours.shape == expected.shape, f"{what}: shape {ours.shape}, torch gives {expected.shape}"
    assert ours.dtype == expected.dtype, f"{what}: dtype {ours.dtype}, torch gives {expected.dtype}"
    if not np.issubdtype(expected.dtype, np.floating) and expected.dtype != ml_dtypes.bfloat16:
        mismatched = np.argwhere(ours != expected)
        assert mismatched.size == 0, f"{what}: differs at {mismatched[:5].tolist()}: {ours} vs {expected}"
        return
    a, b = ours.astype(np.float64), expected.astype(np.float64)
    assert np.array_equal(np.isnan(a), np.isnan(b)), f"{what}: NaNs differ: {a} vs {b}"
    infinite = np.isinf(b)
    assert np.array_equal(a[infinite], b[infinite]) and not np.isinf(a[~infinite]).any(), \
        f"{what}: infinities differ: {a} vs {b}"
    err = rel_err(a, b)
    assert err <= tol, f"{what}: relative error {err:.3g} > {tol:g}"
