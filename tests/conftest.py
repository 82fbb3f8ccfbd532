import numpy as np
import pytest


def ulp_distance(a, b) -> int:
    """Largest distance in float32 units-in-the-last-place between two arrays (NaNs must match)."""
    a = np.asarray(a, dtype=np.float32).ravel()
    b = np.asarray(b, dtype=np.float32).ravel()
    assert a.shape == b.shape
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    assert np.array_equal(nan_a, nan_b), "NaN positions differ"
    ia = a[~nan_a].view(np.int32).astype(np.int64)
    ib = b[~nan_b].view(np.int32).astype(np.int64)
    # map the sign-magnitude bit patterns onto a monotonic integer line
    ia = np.where(ia < 0, -(ia & 0x7FFFFFFF), ia)
    ib = np.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
    return int(np.abs(ia - ib).max()) if ia.size else 0


@pytest.fixture
def ulp():
    return ulp_distance


from fuzz.conftest import pytest_addoption  # noqa: E402,F401 - --fuzz-trials whichever tests run
