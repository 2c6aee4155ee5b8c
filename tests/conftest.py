import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path, monkeypatch):
    """Unit tests never read or write the book's artifact store."""
    monkeypatch.setenv("TOYINTERP_STORE", str(tmp_path / "store"))
    torch.manual_seed(0)
