from cnnspec.layers import LAYERS


def test_batchnorm_params_are_affine_and_statistics_are_buffers():
    bn = LAYERS["batchnorm2d"].from_arguments({})
    assert bn.params([(64, 8, 8)]) == 128 and bn.buffers([(64, 8, 8)]) == 129  # mean, var, num_batches_tracked
    frozen = LAYERS["batchnorm"].from_arguments({"affine": False, "track_running_stats": False})
    assert frozen.params([(64, 8, 8)]) == 0 and frozen.buffers([(64, 8, 8)]) == 0
    assert bn.flops([(64, 8, 8)], (64, 8, 8)) == 2 * 64 * 64


def test_eps_written_as_yaml_1_1_string():
    assert LAYERS["batchnorm2d"].from_arguments({"eps": "1e-3"}).eps == 0.001


def test_lrn_keeps_shape_and_has_no_params():
    lrn = LAYERS["local_response_norm"].from_arguments({"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2})
    assert lrn.out_shape([(96, 55, 55)]) == (96, 55, 55) and lrn.params([(96, 55, 55)]) == 0
    assert lrn.flops([(96, 55, 55)], (96, 55, 55)) == 9 * 96 * 55 * 55
