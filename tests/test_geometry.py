"""parity.core.geometry, against lengths counted by hand."""
import pytest

from parity.core import geometry


@pytest.mark.parametrize("k, d, span", [(1, 1, 1), (3, 1, 3), (3, 2, 5), (2, 8, 9)])
def test_span(k, d, span):
    assert geometry.span(k, d) == span


@pytest.mark.parametrize("n, k, s, d, lo, hi, length", [
    (5, 3, 1, 1, 0, 0, 3),    # windows start at 0, 1, 2
    (5, 3, 2, 1, 0, 0, 2),    # at 0, 2
    (224, 7, 2, 1, 2, 3, 112),  # ResNet stem with TF SAME pads
    (5, 3, 1, 2, 0, 0, 1),    # span 5: one window
    (4, 3, 1, 2, 0, 0, 0),    # span 5 over 4 elements: none
    (4, 3, 1, 2, 1, 0, 1),    # padded to 5: one
])
def test_output_length(n, k, s, d, lo, hi, length):
    assert geometry.output_length(n, k, s, d, lo, hi) == length


def test_full_transposed_length():
    assert geometry.full_transposed((3, 8), (2, 4), (2, 2), (2, 1)) == (7, 18)  # (3-1)*2 + 3, (8-1)*2 + 4
