"""The one device check: a ``--device`` value becomes a torch device, or one ConfigError that
says what is wrong; no value picks a GPU when there is one."""

from __future__ import annotations

import pytest
import torch

from machamp_lite.devices import describe_device, peak_memory, resolve_device
from machamp_lite.errors import ConfigError


@pytest.fixture
def no_cuda(monkeypatch):
    """A machine without a CUDA GPU, also where the tests run on one."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_cpu_is_the_cpu():
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "cpu0"])
def test_a_name_that_is_no_device_is_a_config_error(name):
    with pytest.raises(ConfigError, match="not a device") as caught:
        resolve_device(name)
    assert str(caught.value) == f"--device {name}: not a device; use cpu, cuda or cuda:N"


@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_is_a_config_error(name, no_cuda):
    with pytest.raises(ConfigError, match="no CUDA GPU") as caught:
        resolve_device(name)
    assert "use --device cpu" in str(caught.value)


@pytest.mark.parametrize("name", [None, ""])
def test_no_device_is_the_cpu_without_a_gpu(name, no_cuda):
    assert resolve_device(name) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_no_device_is_the_cpu_here():
    assert resolve_device(None) == torch.device("cpu")


def test_a_data_parallel_process_without_a_gpu_keeps_the_device_asked_for(no_cuda):
    assert resolve_device("cpu", local_rank=1) == torch.device("cpu")
    assert resolve_device(None, local_rank=1) == torch.device("cpu")


def test_the_cpu_is_described_with_its_threads_and_peak_rss():
    assert describe_device(torch.device("cpu")) == f"cpu ({torch.get_num_threads()} threads)"
    report = peak_memory(torch.device("cpu"))
    assert set(report) == {"peak_rss_mb"} and report["peak_rss_mb"] > 0
