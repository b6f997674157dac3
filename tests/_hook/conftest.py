import pytest

from dynajit import _hook


@pytest.fixture(autouse=True)
def hook_left_clean():
    """Every test leaves no callback set and dynajit's evaluator uninstalled."""
    yield
    if _hook.AVAILABLE:
        assert _hook.get_callback() is None
        assert _hook.active_threads() == 0
        assert not _hook.is_installed()
