"""Fixtures of the generic init tests: each test runs against every pause
implementation (the static binary, the cffi core, the Python reference)."""
import pytest

from helpers import IMPLS


@pytest.fixture(params=IMPLS)
def impl(request):
    return request.param


@pytest.fixture(params=[False, True], ids=["child", "pid1"])
def pid1(request):
    """Whether pause runs as PID 1 of a new PID namespace, or as a plain child."""
    return request.param
