"""``gbinfer serve``: a real server on a loopback port, driven by tritonclient and plain HTTP,
answers exactly what the training libraries predict."""

from __future__ import annotations

import gzip
import http.client
from concurrent.futures import ThreadPoolExecutor

import msgpack
import numpy as np
import orjson
import pandas as pd
import pytest
import tritonclient.http as http_client

import gbinfer
from gbinfer.serve.app import Settings
from gbinfer.serve.background import BackgroundServer

N = 64
MAX_ROWS = 50_000


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    n = 400
    X = rng.normal(size=(n, 8)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    colours = rng.choice(["red", "green", "blue"], n)
    colours[:3] = ["red", "green", "blue"]  # first seen in another order than the categories': read by value
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1],
                          "c": pd.Categorical(colours, categories=["blue", "green", "red"])})
    score = np.nan_to_num(X[:, 0]) + (frame.c == "green") - (frame.c == "red") + 0.3 * rng.normal(size=n)
    y = (score > 0.4).astype(int)
    return X, frame, y


@pytest.fixture(scope="module")
def models(tmp_path_factory, data):
    """{name: (path, library predict of the test rows, gbinfer model)}; each library's own file format."""
    import catboost
    import lightgbm
    import xgboost

    X, frame, y = data
    d = tmp_path_factory.mktemp("serve")
    out = {}
    xnum = xgboost.XGBClassifier(n_estimators=20, max_depth=4).fit(X, y)
    gbinfer.save(gbinfer.load(xnum), d / "num.xgbrs")
    out["num"] = (d / "num.xgbrs", xnum.predict_proba(X[:N])[:, 1])
    y3 = np.digitize(np.nan_to_num(X[:, 2]), [-0.5, 0.5])
    xmulti = xgboost.XGBClassifier(n_estimators=10, max_depth=3).fit(X, y3)
    xmulti.save_model(d / "multi.json")
    out["multi"] = (d / "multi.json", xmulti.predict_proba(X[:N]))
    xcat = xgboost.XGBClassifier(n_estimators=20, max_depth=3, enable_categorical=True, tree_method="hist")
    xcat.fit(frame, y)
    xcat.save_model(d / "xcat.json")
    out["xcat"] = (d / "xcat.json", xcat.predict_proba(frame[:N])[:, 1])
    lcat = lightgbm.LGBMClassifier(n_estimators=20, num_leaves=8, min_child_samples=5, verbose=-1).fit(frame, y)
    lcat.booster_.save_model(d / "lcat.txt")
    out["lcat"] = (d / "lcat.txt", lcat.predict_proba(frame[:N])[:, 1])
    strings = frame.assign(c=frame.c.astype(str))
    ccat = catboost.CatBoostClassifier(iterations=20, depth=3, verbose=0, cat_features=["c"]).fit(strings, y)
    ccat.save_model(str(d / "ccat.cbm"))
    out["ccat"] = (d / "ccat.cbm", ccat.predict_proba(strings[:N])[:, 1])
    target = np.nan_to_num(X[:, 0]) * 2 - np.nan_to_num(X[:, 5])
    lnum = lightgbm.LGBMRegressor(n_estimators=15, num_leaves=8, verbose=-1).fit(X, target)
    lnum.booster_.save_model(d / "lnum.txt")
    out["lnum"] = (d / "lnum.txt", lnum.predict(X[:N]))
    cnum = catboost.CatBoostRegressor(iterations=15, depth=4, verbose=0).fit(X, target)
    cnum.save_model(str(d / "cnum.cbm"))
    out["cnum"] = (d / "cnum.cbm", cnum.predict(X[:N]))
    return {name: (str(path), expected, gbinfer.load(str(path))) for name, (path, expected) in out.items()}


@pytest.fixture(scope="module")
def server(models):
    # inline_rows=0: every call goes to the kernel thread, which the batching test holds busy
    settings = Settings(batch_window=0.2, max_batch_rows=MAX_ROWS, max_body_bytes=4 << 20, inline_rows=0)
    with BackgroundServer({name: path for name, (path, _, _) in models.items()}, settings=settings) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    c = http_client.InferenceServerClient(server.url, concurrency=16)
    yield c
    c.close()


def request(server, method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def metric(server, name, labels=None) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    _, _, body = request(server, "GET", "/metrics")
    total = 0.0
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                total += sample.value
    return total


def named_inputs(frame):
    a = http_client.InferInput("a", [len(frame)], "FP32")
    a.set_data_from_numpy(frame.a.to_numpy(np.float32))
    b = http_client.InferInput("b", [len(frame)], "FP32")
    b.set_data_from_numpy(frame.b.to_numpy(np.float32), binary_data=False)  # JSON and binary in one request
    c = http_client.InferInput("c", [len(frame)], "BYTES")
    c.set_data_from_numpy(np.array(frame.c.astype(str).tolist(), dtype=object))
    return [a, b, c]


# --- endpoints -------------------------------------------------------------------------------

def test_health_server_and_model_metadata(server, client, models):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("num") and client.is_model_ready("num", "1")
    assert not client.is_model_ready("absent")
    meta = client.get_server_metadata()
    assert meta["name"] == "gbinfer" and meta["version"] == gbinfer.__version__
    assert "binary_tensor_data" in meta["extensions"] and "model_repository" in meta["extensions"]
    num = client.get_model_metadata("num")
    assert num["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 8]}]
    assert num["versions"] == ["1"] and num["outputs"][0]["name"] == "predict"
    assert client.get_model_metadata("xcat", "1")["inputs"][1:] == [
        {"name": "a", "datatype": "FP32", "shape": [-1]}, {"name": "b", "datatype": "FP32", "shape": [-1]},
        {"name": "c", "datatype": "BYTES", "shape": [-1], "parameters": {"categories": ["blue", "green", "red"]}}]
    lcat = client.get_model_metadata("lcat")["inputs"]
    assert lcat[3]["parameters"] == {"categories": ["blue", "green", "red"]}
    assert [i["datatype"] for i in lcat] == ["FP64", "FP64", "FP64", "BYTES"]  # LightGBM compares in float64
    index = client.get_model_repository_index()
    assert {m["name"] for m in index} == set(models) and {m["version"] for m in index} == {"1"}
    status, _, body = request(server, "GET", "/v2/models/absent")
    assert status == 404 and "absent" in orjson.loads(body)["error"]
    status, _, body = request(server, "GET", "/v2/models/num/versions/7")
    assert status == 404 and "no version '7'" in orjson.loads(body)["error"]


# --- predictions through tritonclient ---------------------------------------------------------

@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_matrix_equals_library(client, models, data, binary):
    X = data[0][:N]
    for name in ("num", "multi", "lnum", "cnum"):
        path, expected, model = models[name]
        inp = http_client.InferInput("input", list(X.shape), "FP32")
        inp.set_data_from_numpy(X, binary_data=binary)
        outputs = [http_client.InferRequestedOutput("predict", binary_data=binary)]
        result = client.infer(name, [inp], outputs=outputs)
        got = result.as_numpy("predict")
        assert got.dtype == (np.float32 if name in ("num", "multi") else np.float64)
        np.testing.assert_array_equal(got, model.predict(X))
        np.testing.assert_array_equal(got, expected.astype(got.dtype))
        assert result.get_response()["model_version"] == "1"


@pytest.mark.parametrize("name", ["xcat", "lcat", "ccat"])
def test_tritonclient_named_categorical_columns_equal_library(client, models, data, name):
    frame = data[1][:N]
    _, expected, model = models[name]
    result = client.infer(name, named_inputs(frame))  # no outputs named: binary output by default
    leaf = client.infer(name, named_inputs(frame), outputs=[http_client.InferRequestedOutput("leaf")])
    reply = leaf.get_output("leaf")
    assert reply["datatype"] == client.get_model_metadata(name)["outputs"][2]["datatype"]
    assert reply["shape"] == [N, 20]
    got = result.as_numpy("predict")
    assert got.dtype == (np.float32 if name == "xcat" else np.float64)
    assert client.get_model_metadata(name)["outputs"][0]["datatype"] == ("FP32" if name == "xcat" else "FP64")
    np.testing.assert_array_equal(got, expected.astype(got.dtype))
    reference = frame.assign(c=frame.c.astype(str)) if name == "ccat" else frame
    np.testing.assert_array_equal(got, model.predict(reference))


def test_output_margin_and_outputs_by_name(client, models, data):
    X = data[0][:N]
    _, _, model = models["num"]
    inp = http_client.InferInput("input", list(X.shape), "FP32")
    inp.set_data_from_numpy(X)
    names = ("predict", "margin", "leaf")
    result = client.infer("num", [inp], outputs=[http_client.InferRequestedOutput(n) for n in names])
    np.testing.assert_array_equal(result.as_numpy("predict"), model.predict(X))
    np.testing.assert_array_equal(result.as_numpy("margin"), model.predict(X, output_margin=True))
    np.testing.assert_array_equal(result.as_numpy("leaf"), model.predict_leaf(X))
    result = client.infer("num", [inp], parameters={"output_margin": True})
    np.testing.assert_array_equal(result.as_numpy("predict"), model.predict(X, output_margin=True))


# --- other bodies -----------------------------------------------------------------------------

def test_plain_json_with_nested_data_and_id(server, models, data):
    X = data[0][:3]
    doc = {"id": "r-1", "inputs": [{"name": "input", "shape": [3, 8], "datatype": "FP32",
                                    "data": np.nan_to_num(X, nan=0.5).tolist()}]}
    status, headers, body = request(server, "POST", "/v2/models/num/infer", orjson.dumps(doc))
    assert status == 200 and "Inference-Header-Content-Length" not in headers
    out = orjson.loads(body)
    assert out["id"] == "r-1" and out["model_name"] == "num"
    got = np.array(out["outputs"][0]["data"], dtype=np.float32)
    np.testing.assert_array_equal(got, models["num"][2].predict(np.nan_to_num(X, nan=0.5)))


def test_gzip_request_body(server, models, data):
    X = data[0][:4]
    doc = {"inputs": [{"name": "input", "shape": [4, 8], "datatype": "FP64",
                       "data": np.nan_to_num(X).ravel().tolist()}]}
    status, _, body = request(server, "POST", "/v2/models/num/infer", gzip.compress(orjson.dumps(doc)),
                              {"Content-Encoding": "gzip"})
    assert status == 200
    got = np.array(orjson.loads(body)["outputs"][0]["data"], dtype=np.float32)
    np.testing.assert_array_equal(got, models["num"][2].predict(np.nan_to_num(X)))


def test_lightgbm_fp64_rows_are_compared_in_float64(tmp_path):
    """Rows a float64 step above a LightGBM split threshold, sent as FP64 (what the model's metadata
    asks for) as a matrix and as named columns: lightgbm's answers for the float64 numbers."""
    import lightgbm
    from test_lightgbm import near_thresholds

    rng = np.random.default_rng(8)
    X = rng.normal(size=(300, 3))
    booster = lightgbm.train({"objective": "regression", "verbose": -1, "num_leaves": 7, "num_threads": 1},
                             lightgbm.Dataset(X, X[:, 0] - X[:, 1] + rng.normal(size=300)), 10)
    booster.save_model(tmp_path / "l64.txt")
    Z = near_thresholds(booster, X)
    expected = booster.predict(Z)
    assert not np.array_equal(booster.predict(Z.astype(np.float32)), expected)
    matrix = {"inputs": [{"name": "input", "shape": list(Z.shape), "datatype": "FP64", "data": Z.ravel().tolist()}]}
    columns = {"inputs": [{"name": n, "shape": [len(Z)], "datatype": "FP64", "data": Z[:, j].tolist()}
                          for j, n in enumerate(booster.feature_name())]}
    with BackgroundServer({"l64": str(tmp_path / "l64.txt")}) as server:
        for doc in (matrix, columns):
            status, _, body = request(server, "POST", "/v2/models/l64/infer", orjson.dumps(doc))
            assert status == 200, body
            np.testing.assert_array_equal(np.array(orjson.loads(body)["outputs"][0]["data"]), expected)


def test_lightgbm_integer_categories_sent_as_text(tmp_path):
    """The metadata lists a LightGBM model's integer categories as text; sent back as BYTES text they
    mean those integers (not unseen categories)."""
    import lightgbm
    import pandas as pd

    rng = np.random.default_rng(9)
    frame = pd.DataFrame({"a": rng.normal(size=300), "size": pd.Categorical(rng.choice([10, 20, 30], 300))})
    y = (frame["size"] == 20) * 3 + frame.a
    booster = lightgbm.train({"objective": "regression", "verbose": -1, "min_data_per_group": 5, "cat_smooth": 1,
                              "num_threads": 1}, lightgbm.Dataset(frame, y), 10)
    booster.save_model(tmp_path / "sizes.txt")
    test = frame.iloc[:40]
    with BackgroundServer({"sizes": str(tmp_path / "sizes.txt")}) as server:
        status, _, body = request(server, "GET", "/v2/models/sizes")
        assert orjson.loads(body)["inputs"][2]["parameters"] == {"categories": ["10", "20", "30"]}
        doc = {"inputs": [{"name": "a", "shape": [40], "datatype": "FP64", "data": test.a.tolist()},
                          {"name": "size", "shape": [40], "datatype": "BYTES", "data": test["size"].astype(str).tolist()}]}
        status, _, body = request(server, "POST", "/v2/models/sizes/infer", orjson.dumps(doc))
        assert status == 200, body
        np.testing.assert_array_equal(np.array(orjson.loads(body)["outputs"][0]["data"]), booster.predict(test))


def test_msgpack_body(server, models, data):
    frame = data[1][:N]
    _, expected, _ = models["lcat"]
    doc = {"inputs": [
        {"name": "a", "datatype": "FP32", "shape": [N], "data": frame.a.to_numpy(np.float32).tobytes()},
        {"name": "b", "datatype": "FP64", "shape": [N], "data": frame.b.to_numpy(np.float64).tolist()},
        {"name": "c", "datatype": "BYTES", "shape": [N], "data": frame.c.astype(str).tolist()}],
        "outputs": [{"name": "predict"}, {"name": "margin"}]}
    status, headers, body = request(server, "POST", "/v2/models/lcat/infer", msgpack.packb(doc),
                                    {"Content-Type": "application/msgpack"})
    assert status == 200 and headers["content-type"] == "application/msgpack"
    out = msgpack.unpackb(body)
    predict = out["outputs"][0]
    assert predict["datatype"] == "FP64" and predict["shape"] == [N]
    np.testing.assert_array_equal(np.frombuffer(predict["data"], "<f8"), expected)


def test_arrow_stream_body(server, models, data):
    import pyarrow as pa

    frame = data[1][:N]
    X = data[0][:N]
    _, expected, _ = models["xcat"]
    table = pa.Table.from_pandas(frame, preserve_index=False)  # c arrives as an Arrow dictionary

    def post(table, path):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        status, headers, body = request(server, "POST", path, sink.getvalue().to_pybytes(),
                                        {"Content-Type": "application/vnd.apache.arrow.stream"})
        assert status == 200, body
        assert headers["content-type"] == "application/vnd.apache.arrow.stream"
        return pa.ipc.open_stream(body).read_all()

    out = post(table, "/v2/models/xcat/infer?outputs=predict,margin")
    np.testing.assert_array_equal(out.column("predict").to_numpy(), expected.astype(np.float32))
    assert out.column_names == ["predict", "margin"]
    # float64 columns stay float64 for LightGBM, which compares in float64
    wide = pa.Table.from_pandas(frame.astype({"a": np.float64, "b": np.float64}), preserve_index=False)
    out = post(wide, "/v2/models/lcat/infer")
    np.testing.assert_array_equal(out.column("predict").to_numpy(), models["lcat"][1])
    # a model without feature names reads the columns by position; several outputs: one list per row
    plain = pa.table({f"f{j}": X[:, j] for j in range(8)})
    out = post(plain, "/v2/models/multi/infer?output_margin=false")
    got = np.array(out.column("predict").to_pylist(), dtype=np.float32)
    np.testing.assert_array_equal(got, models["multi"][1].astype(np.float32))


# --- refusals ---------------------------------------------------------------------------------

def _error(server, path, body, headers=None):
    status, _, raw = request(server, "POST", path, body, headers)
    return status, orjson.loads(raw)["error"]


def test_errors_in_the_v2_form(server, client, data):
    infer = "/v2/models/num/infer"
    assert _error(server, infer, b"{not json")[0] == 400
    status, message = _error(server, infer, orjson.dumps({"inputs": [
        {"name": "input", "shape": [1, 7], "datatype": "FP32", "data": [0] * 7}]}))
    assert status == 400 and "7 columns" in message and "8 features" in message
    status, message = _error(server, infer, orjson.dumps({"inputs": [
        {"name": "input", "shape": [1, 8], "datatype": "FP32", "data": [0] * 8}], "outputs": [{"name": "proba"}]}))
    assert status == 400 and "'proba'" in message
    status, message = _error(server, infer, orjson.dumps({"inputs": [
        {"name": "input", "shape": [1, 8], "datatype": "BF16", "data": [0] * 8}]}))
    assert status == 400 and "BF16" in message
    status, message = _error(server, "/v2/models/xcat/infer", orjson.dumps({"inputs": [
        {"name": "a", "shape": [1], "datatype": "FP32", "data": [0]}]}))
    assert status == 400 and "'b'" in message and "'c'" in message
    # the model's own typed refusal: a category XGBoost never saw
    status, message = _error(server, "/v2/models/xcat/infer", orjson.dumps({"inputs": [
        {"name": "a", "shape": [1], "datatype": "FP32", "data": [0]},
        {"name": "b", "shape": [1], "datatype": "FP32", "data": [0]},
        {"name": "c", "shape": [1], "datatype": "BYTES", "data": ["purple"]}]}))
    assert status == 400 and "purple" in message
    # binary extension: a header length past the body, and binary sizes that do not add up
    status, message = _error(server, infer, b"{}", {"Inference-Header-Content-Length": "99"})
    assert status == 400 and "99" in message
    head = orjson.dumps({"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32",
                                     "parameters": {"binary_data_size": 32}}]})
    status, message = _error(server, infer, head + bytes(40), {"Inference-Header-Content-Length": str(len(head))})
    assert status == 400 and "8 bytes" in message
    # caps: the body (413) and the rows of one request (413), with the option to change them named
    status, message = _error(server, infer, bytes(5 << 20))
    assert status == 413 and "--max-body-mb" in message
    big = np.zeros((MAX_ROWS + 1, 8), np.float32)
    inp = http_client.InferInput("input", list(big.shape), "FP32")
    inp.set_data_from_numpy(big)
    with pytest.raises(http_client.InferenceServerException, match="--max-batch-rows"):
        client.infer("num", [inp])
    assert _error(server, "/v2/models/absent/infer", b"{}")[0] == 404
    assert _error(server, "/v2/no/such/route", b"{}")[0] == 404
    assert metric(server, "gbinfer_request_errors_total", {"model": "num", "status": "413"}) >= 2


def test_inference_paths_and_methods(server, models, data):
    """The inference route's edges: a version by number, another method than POST, a version
    that is not loaded, and paths that only look like inference (answered by the other routes)."""
    X = np.nan_to_num(data[0][:2])
    doc = orjson.dumps({"inputs": [{"name": "input", "shape": [2, 8], "datatype": "FP32", "data": X.ravel().tolist()}]})
    status, headers, body = request(server, "POST", "/v2/models/num/versions/1/infer", doc)
    assert status == 200 and headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    out = orjson.loads(body)
    assert out["model_version"] == "1"
    np.testing.assert_array_equal(np.array(out["outputs"][0]["data"], np.float32), models["num"][2].predict(X))
    for method in ("GET", "PUT"):
        status, headers, body = request(server, method, "/v2/models/num/infer")
        assert status == 405 and headers["content-type"] == "application/json"
        assert orjson.loads(body)["error"] == f"{method} /v2/models/num/infer: Method Not Allowed"
    status, message = _error(server, "/v2/models/num/versions/9/infer", doc)
    assert status == 404 and "no version '9'" in message
    # answered as before by the other routes: no route, or a metadata route (GET only) for a model
    # named "infer" or a version named "infer"
    for path, expected in (("/v2/models//infer", 404), ("/v2/models/num/x/infer", 404), ("/v2/models/infer", 405),
                           ("/v2/models/num/versions/infer", 405)):
        assert _error(server, path, doc)[0] == expected, path
    assert request(server, "GET", "/v2/models/infer")[0] == 404


def test_small_request_on_an_idle_model_runs_in_its_handler():
    """An idle batcher predicts a request of at most ``inline_rows`` rows within ``submit``, on
    the event loop's thread, with the same result, refusal and batch record as a queued one."""
    import asyncio
    import threading

    from gbinfer.serve.batching import Batcher

    threads, batches = [], []

    def run(key, payloads):
        threads.append(threading.get_ident())
        if key == "bad":
            raise ValueError("refused")
        return [p * 2 for p in payloads]

    async def scenario():
        batcher = Batcher(run, window=0.01, max_rows=100, executor=None, inline_rows=4,
                          on_batch=lambda n, rows: batches.append((n, rows)))
        assert await batcher.submit("k", 21, 3) == 42
        with pytest.raises(ValueError, match="refused"):
            await batcher.submit("bad", 1, 1)
        assert batcher.waiting == 0
        return threading.get_ident()

    loop_thread = asyncio.run(scenario())
    assert threads == [loop_thread, loop_thread] and batches == [(1, 3)]


# --- micro-batching ---------------------------------------------------------------------------

def test_concurrent_requests_share_kernel_calls(server, models, data):
    """Requests that arrive while the kernel thread is busy queue up and share one call, each
    getting its own rows back. The kernel thread is held busy here by a task that waits for the
    test, so that the requests are concurrent however loaded the machine is."""
    import threading
    import time

    _, _, model = models["num"]
    labels = {"model": "num"}
    calls_before = metric(server, "gbinfer_batch_requests_count", labels)
    requests_before = metric(server, "gbinfer_batch_requests_sum", labels)
    repository = server.app.state.repository
    release = threading.Event()
    repository.executor.submit(release.wait, 30)
    X = np.nan_to_num(data[0])
    smalls = [X[i * 3:i * 3 + 1 + i % 3] for i in range(24)]

    def infer(rows):
        doc = {"inputs": [{"name": "input", "shape": list(rows.shape), "datatype": "FP32",
                           "data": rows.ravel().tolist()}]}
        status, _, body = request(server, "POST", "/v2/models/num/infer", orjson.dumps(doc))
        assert status == 200, body
        return np.array(orjson.loads(body)["outputs"][0]["data"], dtype=np.float32)

    pool = ThreadPoolExecutor(len(smalls))
    pending = [pool.submit(infer, rows) for rows in smalls]
    batcher = repository.entry("num").batcher
    deadline = time.monotonic() + 30
    while batcher.waiting < len(smalls) and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    results = [p.result() for p in pending]
    pool.shutdown()
    for rows, got in zip(smalls, results):
        np.testing.assert_array_equal(got, model.predict(rows))
    calls = metric(server, "gbinfer_batch_requests_count", labels) - calls_before
    assert metric(server, "gbinfer_batch_requests_sum", labels) - requests_before == 24
    # the requests that came before the first call was handed to the thread, and all the others
    assert calls <= 2, f"24 requests took {calls} kernel calls"


def test_lone_request_does_not_wait_for_the_window(server, client, data):
    """The window is 200 ms in this server; an idle server answers one request well inside it."""
    import time

    X = data[0][:1]
    inp = http_client.InferInput("input", [1, 8], "FP32")
    inp.set_data_from_numpy(X)
    client.infer("num", [inp])
    times = []
    for _ in range(5):
        start = time.perf_counter()
        client.infer("num", [inp])
        times.append(time.perf_counter() - start)
    assert sorted(times)[2] < 0.1


def test_metrics_in_prometheus_text_format(server, client, data):
    from prometheus_client.parser import text_string_to_metric_families

    _, headers, body = request(server, "GET", "/metrics")
    assert headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert families["gbinfer_request_duration_seconds"].type == "histogram"
    assert families["gbinfer_batch_rows"].type == "histogram"
    assert families["gbinfer_request_errors"].type == "counter"
    versions = {s.labels["model"]: s.value for s in families["gbinfer_model_version"].samples}
    assert versions == {name: 1.0 for name in ("num", "multi", "xcat", "lcat", "ccat", "lnum", "cnum")}
    assert metric(server, "gbinfer_request_duration_seconds_count", {"model": "num"}) > 0
