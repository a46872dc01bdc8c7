from hypothesis import given
from hypothesis import strategies as st

from cnnspec.layers import LAYERS
from cnnspec.layers.pool import adaptive_windows
from cnnspec.receptive import ReceptiveField


def layer(type_name, **arguments):
    return LAYERS[type_name].from_arguments(arguments)


def test_stride_defaults_to_kernel():
    pool = layer("maxpool2d", kernel_size=2)
    assert pool.out_shape([(64, 224, 224)]) == (64, 112, 112)
    assert pool.params([(64, 224, 224)]) == 0 and pool.macs([(64, 224, 224)], (64, 112, 112)) == 0


def test_pool_flops_per_output_value():
    x, out = (8, 4, 4), (8, 2, 2)
    assert layer("maxpool2d", kernel_size=2).flops([x], out) == 32 * 3  # K - 1 comparisons
    assert layer("avgpool2d", kernel_size=2).flops([x], out) == 32 * 4  # K - 1 adds and a divide


def test_ceil_mode_googlenet_pool():
    pool = layer("maxpool2d", kernel_size=3, stride=2, ceil_mode=True)
    assert pool.out_shape([(64, 112, 112)]) == (64, 56, 56)
    assert pool.out_shape([(192, 56, 56)]) == (192, 28, 28)
    assert pool.warnings([(64, 112, 112)]) == []


def test_global_pools():
    x = (512, 7, 7)
    assert layer("global_avg_pool").out_shape([x]) == (512,)
    assert layer("global_avg_pool", keepdim=True).out_shape([x]) == (512, 1, 1)
    field = layer("global_max_pool").receptive_field([x], [ReceptiveField(size=(212, 212), jump=(32, 32),
                                                                          start=(0, 0))])
    assert field.size == (212 + 6 * 32, 212 + 6 * 32)


def test_adaptive_pool_windows():
    pool = layer("adaptive_avg_pool2d", output_size=[6, 6])
    assert pool.out_shape([(256, 13, 13)]) == (256, 6, 6)
    assert pool.warnings([(256, 13, 13)]) == ["adaptive pooling of 13 to 6 uses windows of unequal size"]  # once
    assert layer("adaptive_avg_pool2d", output_size=7).warnings([(512, 2, 2)]) == [
        "adaptive pooling of 2 to 7 repeats input positions (it upsamples)"]  # VGG on a 64x64 input
    identity = layer("adaptive_avg_pool2d", output_size=7)
    assert identity.flops([(512, 7, 7)], (512, 7, 7)) == 512 * 49 and identity.warnings([(512, 7, 7)]) == []
    assert layer("adaptive_avg_pool2d", output_size=[None, 1]).out_shape([(4, 5, 9)]) == (4, 5, 1)


@given(n=st.integers(1, 300), o=st.integers(1, 300))
def test_adaptive_windows_closed_form_matches_pytorchs_windows(n, o):
    # torch/aten/src/ATen/native/AdaptiveAveragePooling.cpp: start_index = floor(i*n/o),
    # end_index = ceil((i+1)*n/o), in integer arithmetic
    lengths = [-(-(i + 1) * n // o) - i * n // o for i in range(o)]
    assert adaptive_windows(n, o) == (max(lengths), sum(lengths))


def test_a_huge_adaptive_output_size_is_analyzed_at_once():
    pool = layer("adaptive_max_pool1d", output_size=10**30)
    x = (2, 7)
    out = pool.out_shape([x])
    assert out == (2, 10**30)
    assert pool.flops([x], out) == 2 * (7 + 10**30 - 1) - 2 * 10**30  # reads minus outputs
    # most windows read one position; those that straddle a boundary between positions read two
    assert pool.receptive_field([x], [ReceptiveField.of_input(1)]).size == (2,)
