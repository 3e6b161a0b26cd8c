import pytest
import torch

from rnnreg.plugins import load_plugins


@pytest.fixture(autouse=True)
def _two_threads_and_seed():
    torch.set_num_threads(2)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def plugins():
    return load_plugins()
