import pytest
import torch

from rnnreg.plugins import load_plugins


@pytest.fixture(autouse=True)
def _two_threads_and_seed(monkeypatch):
    torch.set_num_threads(2)
    torch.manual_seed(0)
    # A run's default on CPU is one worker process per core; tests that want workers say --jobs.
    monkeypatch.setenv("RNNREG_JOBS", "1")


@pytest.fixture(scope="session")
def plugins():
    return load_plugins()
