"""``--fuzz-trials=N``: trials per format for tests/fuzz (a few hundred by default, so the suite stays
fast; ``python tests/fuzz/run.py`` is the tool for long runs). ``--fuzz-seed`` picks another stream."""

from __future__ import annotations

import pytest

DEFAULT_TRIALS = 400


def pytest_addoption(parser):
    try:
        parser.addoption("--fuzz-trials", type=int, default=DEFAULT_TRIALS, help="fuzz trials per model format")
        parser.addoption("--fuzz-seed", type=int, default=0, help="base seed of the fuzz trials")
    except ValueError:  # registered already, through tests/conftest.py
        pass


@pytest.fixture(scope="session")
def fuzz_trials(request) -> int:
    return request.config.getoption("--fuzz-trials", DEFAULT_TRIALS)


@pytest.fixture(scope="session")
def fuzz_seed(request) -> int:
    return request.config.getoption("--fuzz-seed", 0)
