"""StepGEMM: the packed oneDNN product equals torch's, and packing follows the size threshold.
(The fast loops themselves are tested against the reference loop in test_model.py.)"""

import pytest
import torch

from rnnreg import fastloop
from rnnreg.fastloop import PACK_MIN_NUMEL, StepGEMM

needs_onednn = pytest.mark.skipif(not fastloop.ONEDNN_AVAILABLE, reason="this torch build has no oneDNN linear")


@needs_onednn
def test_large_weights_are_packed_and_give_torch_mm_results(monkeypatch):
    monkeypatch.setattr(fastloop, "USE_ONEDNN", True)
    weight = torch.randn(4 * 512, 512) / 512**0.5  # exactly the threshold: an LSTM with H 512
    assert weight.numel() == PACK_MIN_NUMEL
    x = torch.randn(20, 512)
    gemm = StepGEMM(weight, batch=20)
    assert gemm.packed is not None
    torch.testing.assert_close(gemm(x), x @ weight.t(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(gemm(x[:7]), x[:7] @ weight.t(), atol=1e-5, rtol=1e-5)  # another batch size


def test_small_weights_doubles_and_the_switch_use_torch_mm(monkeypatch):
    monkeypatch.setattr(fastloop, "USE_ONEDNN", True)
    assert StepGEMM(torch.randn(4 * 128, 128), batch=20).packed is None  # below the threshold
    assert StepGEMM(torch.randn(4 * 512, 512, dtype=torch.float64), batch=20).packed is None
    monkeypatch.setattr(fastloop, "USE_ONEDNN", False)
    weight = torch.randn(4 * 512, 512)
    gemm = StepGEMM(weight, batch=20)
    assert gemm.packed is None
    x = torch.randn(20, 512)
    torch.testing.assert_close(gemm(x), x @ weight.t())
