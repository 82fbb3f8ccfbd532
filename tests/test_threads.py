"""Threads and processes: concurrent calls give identical results, forked workers don't hang,
and ``nthread`` does not change a single bit."""

import multiprocessing as mp
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import gbinfer

xgb = pytest.importorskip("xgboost")


@pytest.fixture(scope="module")
def model_and_data():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(3000, 12)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    y = rng.integers(0, 3, 3000)
    bst = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 6, "nthread": 2},
                    xgb.DMatrix(X, y), 40)
    return gbinfer.load(bytes(bst.save_raw("ubj"))), X, bst.predict(xgb.DMatrix(X), output_margin=True)


def test_concurrent_threads_identical(model_and_data):
    model, X, reference = model_and_data
    batches = [X, X[:1], X[:300], X[:7], X[1000:2500]]
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(model.predict, batches[i % len(batches)], output_margin=True) for i in range(40)]
        results = [f.result() for f in futures]
    for i, got in enumerate(results):
        want = reference[: len(batches[i % len(batches)])] if i % len(batches) != 4 else reference[1000:2500]
        assert np.array_equal(got, want)


@pytest.mark.parametrize("nthread", [None, 1, 2, 64])
def test_nthread_does_not_change_results(model_and_data, nthread):
    model, X, reference = model_and_data
    assert np.array_equal(model.predict(X, output_margin=True, nthread=nthread), reference)


def _predict_in_child(queue, model_bytes, X):
    queue.put(gbinfer.load(model_bytes).predict(X, output_margin=True))


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="fork is not available on this platform")
def test_forked_worker_after_parallel_use(model_and_data):
    model, X, reference = model_and_data
    model.predict(X)  # the parent starts its thread pool
    from gbinfer.serialization import binary

    raw = binary.dumps(model)
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_predict_in_child, args=(queue, raw, X))
    child.start()
    got = queue.get(timeout=120)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert np.array_equal(got, reference)
