"""Integer formats INT-k, signed (two's complement) or unsigned.

`symmetric` signed formats drop the most negative code's value (-2^(k-1)) so the
grid is ±(2^(k-1)-1), as symmetric weight quantisation uses; that code then
saturates to the most negative symmetric value. Asymmetric quantisation uses the
unsigned format with a zero point (see the quantiser), so the grid itself is plain.
"""

from __future__ import annotations

from bitsmith.ir.formats.base import Format


def integer(bits: int, *, signed: bool = True, symmetric: bool = False) -> Format:
    if not 2 <= bits <= 8:
        raise ValueError(f"integer formats have 2..8 bits, got {bits}")
    half = 1 << (bits - 1)
    if signed:
        table = [float(code - (1 << bits) if code >= half else code) for code in range(1 << bits)]
        if symmetric:
            table[half] = float(-(half - 1))  # -2^(k-1) is not used: the grid is symmetric
        name = f"int{bits}" + ("_sym" if symmetric else "")
        description = f"signed two's complement {'±' + str(half - 1) if symmetric else f'{-half}..{half - 1}'}"
    else:
        table = [float(code) for code in range(1 << bits)]
        name, description = f"uint{bits}", f"unsigned 0..{(1 << bits) - 1}"
    reserved = (half,) if signed and symmetric else ()
    return Format(name, bits, "int", tuple(table), overflow="saturate", signed=signed, description=description,
                  reserved=reserved)
