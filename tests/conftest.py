"""Shared fixtures. Tests that need MNIST read it through HW7_DATA (set in CI)."""

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def mnist():
    from hw7.data import data_root, load_mnist

    if not (data_root() / "MNIST" / "raw").is_dir():
        if os.environ.get("CI"):
            pytest.fail("CI must set HW7_DATA to a folder with MNIST/raw/")
        pytest.skip("MNIST not available: set HW7_DATA=../shared/data")
    return load_mnist()
