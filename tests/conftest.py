"""Shared pytest fixtures."""
import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def astjax_cache_dir(tmp_path_factory):
    """One jit cache for the whole session (an explicit $ASTJAX_CACHE_DIR wins)."""
    if not os.environ.get("ASTJAX_CACHE_DIR"):
        os.environ["ASTJAX_CACHE_DIR"] = str(tmp_path_factory.mktemp("astjax-cache"))
    return os.environ["ASTJAX_CACHE_DIR"]
