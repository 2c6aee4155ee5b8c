import pytest
import torch

from toyinterp.params import ParameterError, check_fraction, is_prime, resolve_device


def test_primes():
    assert [n for n in range(30) if is_prime(n)] == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_is_one_clear_error():
    with pytest.raises(ParameterError, match="no CUDA GPU"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")


def test_unknown_device():
    with pytest.raises(ParameterError, match="device must be one of"):
        resolve_device("tpu")


def test_fraction_bounds():
    assert check_fraction("f", 0.5) == 0.5
    for bad in (0, 1, -0.1, True, "0.5"):
        with pytest.raises(ParameterError):
            check_fraction("f", bad)
