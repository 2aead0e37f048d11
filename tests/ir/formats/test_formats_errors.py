"""Bad input fails loudly with a named error that says what was wrong and what is valid."""

from __future__ import annotations

import numpy as np
import pytest

from bitsmith.ir.formats import UnknownFormatError, get_format, mixture


def test_unknown_format_names_itself_and_the_valid_names() -> None:
    with pytest.raises(UnknownFormatError) as info:
        get_format("int9")
    message = str(info.value)
    assert "\n" not in message
    for word in ("int9", "int4", "nf4", "fp8_e4m3", "bitmod_fp4_ea_pos"):
        assert word in message


def test_unknown_mixture_names_itself_and_the_valid_names() -> None:
    with pytest.raises(UnknownFormatError) as info:
        mixture("nope")
    message = str(info.value)
    assert "\n" not in message
    for word in ("nope", "bitmod3", "bitmod4", "ant4"):
        assert word in message


@pytest.mark.parametrize(("name", "code"), [("int4", 16), ("int4", -1), ("nf4", 255), ("fp8_e4m3", 256),
                                            ("bipolar", 2)])
def test_decode_rejects_out_of_range_codes(name: str, code: int) -> None:
    with pytest.raises(ValueError, match=name):
        get_format(name).decode(np.array([0, code]))
