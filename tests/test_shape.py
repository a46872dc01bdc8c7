"""Output-size rules against their closed forms and against counting windows one by one."""
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnspec.shape import conv_out, conv_transpose_out, effective_kernel, exact_conv_out, same_padding


def windows_by_counting(n, k, s, p, d):
    """Slide the window over the padded input and count the positions where it fits."""
    return sum(1 for start in range(0, n + 2 * p, s) if start + effective_kernel(k, d) <= n + 2 * p)


sizes = st.integers(1, 64)


@given(n=st.integers(1, 300), k=st.integers(1, 11), s=st.integers(1, 5), p=st.integers(0, 5), d=st.integers(1, 3))
def test_conv_out_is_floor_formula(n, k, s, p, d):
    expected = (n + 2 * p - d * (k - 1) - 1) // s + 1
    assert conv_out(n, k, s, p, d) == expected
    if expected > 0:
        assert conv_out(n, k, s, p, d) == windows_by_counting(n, k, s, p, d)
        assert exact_conv_out(n, k, s, p, d) >= expected


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 60), k=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 3), d=st.integers(1, 2))
def test_ceil_mode_matches_pytorch(n, k, s, p, d):
    torch = pytest.importorskip("torch")
    assume(2 * p <= k and conv_out(n, k, s, p, d) > 0)
    pool = torch.nn.MaxPool1d(k, s, p, dilation=d, ceil_mode=True)
    assert conv_out(n, k, s, p, d, ceil_mode=True) == pool(torch.zeros(1, 1, n)).shape[-1]


@given(n=sizes, k=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 3), op=st.integers(0, 3))
def test_transpose_inverts_conv_size(n, k, s, p, op):
    op = op % s
    out = conv_transpose_out(n, k, s, p, 1, op)
    if out > 0:
        assert conv_out(out, k, s, p) == n  # a conv with the same window maps it back


@given(n=sizes, k=st.integers(1, 9), d=st.integers(1, 3))
def test_same_padding_keeps_size(n, k, d):
    left, right = same_padding(k, d)
    assert n + left + right - effective_kernel(k, d) + 1 == n and 0 <= right - left <= 1
