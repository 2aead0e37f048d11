"""A 2-D convolution as a GEMM over patches (im2col), so a quantised conv2d
weight runs on the same packed kernels as a linear one.

Order. The reduction axis runs over (kh, kw, c), channel fastest:

    patches[(n*OH + oh)*OW + ow, (kh*KW + kw)*C + c]
        = x[n, c, oh*sh + kh*dh - ph, ow*sw + kw*dw - pw]      (0 outside x)
    y[n, o, oh, ow] = sum_k patches[(n, oh, ow), k] * W[o, k] (+ bias[o])

Why channel fastest: `quantize_weights` groups a conv weight [O, C, KH, KW]
along C, one group run per (o, kh, kw). With C fastest along k every group is
a contiguous run of the matrix row, as the packed layouts require, and the
matrix is the same spec re-indexed: no value is re-quantised.
(`conv_weight_matrix`; a channel-granular conv weight, one scale per
(o, kh, kw), becomes groups of C.)

Grouped convolutions (groups > 1) have one such GEMM per group; the lowering
decodes their weight once per call and calls Relax's conv2d instead
(`lower` module docstring).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from tvm import te, tirx

from bitsmith.ir.formats.spec import QuantSpec


def conv_weight_matrix(spec: QuantSpec) -> QuantSpec:
    """The [O, KH*KW*C] matrix view of a conv2d weight spec [O, C, KH, KW]
    grouped along C (axis 1), in the module's k order. Two-level scales are
    folded into float32 group scales, as the packing does."""
    o, c, kh, kw = spec.shape
    if spec.axis != 1:
        raise ValueError(f"conv2d weight spec {spec.scheme}: groups run along axis {spec.axis}, expected 1 (C)")
    positions = kh * kw

    def per_group(array: np.ndarray | None) -> np.ndarray | None:
        """(O*KH*KW, groups) in (o, kh, kw) row order -> (O, KH*KW*groups)."""
        return None if array is None else array.reshape(o, -1)

    granularity, group_size = spec.granularity, spec.group_size
    tensor = granularity == "tensor"
    if granularity == "channel":
        granularity, group_size = "group", c
    scales = spec.effective_scales().astype(np.float32)
    return dataclasses.replace(
        spec, shape=(o, positions * c), axis=1, granularity=granularity, group_size=group_size,
        codes=spec.codes.transpose(0, 2, 3, 1).reshape(o, -1),
        format_ids=spec.format_ids if tensor else per_group(spec.format_ids),
        scales=scales if tensor else per_group(scales),
        zero_points=spec.zero_points if tensor else per_group(spec.zero_points),
        scale_bits=None, scale_codes=None, channel_scales=None)


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """One spatial output extent of a conv2d."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def im2col(x: te.Tensor, kernel: Sequence[int], stride: Sequence[int], padding: Sequence[int],
           dilation: Sequence[int]) -> te.Tensor:
    """The patches [N*OH*OW, KH*KW*C] of x [N, C, H, W] (module docstring), as
    one injective TE stage (the CPU schedule vectorises and parallelises it)."""
    n, c, h, w = (int(d) for d in x.shape)
    kh, kw = kernel
    oh, ow = (output_size(s, k, st, p, d) for s, k, st, p, d in zip((h, w), kernel, stride, padding, dilation,
                                                                    strict=True))

    def patch(row, col):
        image, pixel = row // (oh * ow), row % (oh * ow)
        position, channel = col // c, col % c
        y = pixel // ow * stride[0] + position // kw * dilation[0] - padding[0]
        z = pixel % ow * stride[1] + position % kw * dilation[1] - padding[1]
        inside = tirx.all(y >= 0, y < h, z >= 0, z < w)
        return tirx.if_then_else(inside, x[image, channel, tirx.max(tirx.min(y, h - 1), 0),
                                             tirx.max(tirx.min(z, w - 1), 0)], tirx.const(0, x.dtype))

    return te.compute((n * oh * ow, kh * kw * c), patch, name="im2col")
