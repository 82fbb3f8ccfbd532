"""Hot reload under load: new versions replace old ones while requests keep coming, every request
is answered by exactly one version, and bad or wrongly signed files never replace a good one."""

from __future__ import annotations

import http.client
import os
import threading
import time
from pathlib import Path

import numpy as np
import orjson
import pytest

import gbinfer
from gbinfer import errors
from gbinfer.serve.background import BackgroundServer

KEYS = Path(__file__).resolve().parent.parent / "fixtures" / "apr"
ROWS = 16


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """Three XGBoost models that predict differently, as .xgbrs files, and the rows to ask them."""
    import xgboost

    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    y = (X[:, 0] - X[:, 3] > 0).astype(int)
    d = tmp_path_factory.mktemp("reload")
    out = []
    for i, rounds in enumerate((5, 9, 14)):
        booster = xgboost.XGBClassifier(n_estimators=rounds, max_depth=3).fit(X, y)
        model = gbinfer.load(booster)
        gbinfer.save(model, d / f"v{i + 1}.xgbrs")
        out.append((d / f"v{i + 1}.xgbrs", model, booster.predict_proba(X[:ROWS])[:, 1]))
    return d, X[:ROWS], out


def post(server, path, doc):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", path, body=orjson.dumps(doc))
        resp = conn.getresponse()
        return resp.status, orjson.loads(resp.read())
    finally:
        conn.close()


def metric(server, name, model):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    line = [line for line in text.splitlines() if line.startswith(f'{name}{{model="{model}"}}')]
    return float(line[0].split()[-1]) if line else 0.0


def replace(path: Path, source: bytes) -> None:
    """Write ``path`` the way a deployment should: a new file renamed over the old one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(source)
    os.replace(tmp, path)


def wait_for(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_reload_under_load_loses_no_request_and_mixes_no_versions(versions, tmp_path):
    _, X, models = versions
    serving = tmp_path / "m.xgbrs"
    serving.write_bytes(models[0][0].read_bytes())
    expected = {str(i + 1): predictions for i, (_, _, predictions) in enumerate(models)}
    doc = {"inputs": [{"name": "input", "shape": list(X.shape), "datatype": "FP32", "data": X.ravel().tolist()}]}
    with BackgroundServer({"m": str(serving)}, watch_interval=0.05) as server:
        stop = threading.Event()
        seen, failures, counts = set(), [], []

        def hammer():
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            n = 0
            while not stop.is_set():
                conn.request("POST", "/v2/models/m/infer", body=orjson.dumps(doc))
                resp = conn.getresponse()
                body = orjson.loads(resp.read())
                n += 1
                if resp.status != 200:
                    failures.append(body)
                    continue
                version = body["model_version"]
                got = np.array(body["outputs"][0]["data"], dtype=np.float32)
                if not np.array_equal(got, expected[version].astype(np.float32)):
                    failures.append(f"version {version} answered other predictions")
                seen.add(version)
            conn.close()
            counts.append(n)

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        # 1. the watched file is replaced: version 2
        replace(serving, models[1][0].read_bytes())
        wait_for(lambda: "2" in seen)
        # 2. it is replaced by garbage: refused, logged, counted; version 2 keeps serving
        replace(serving, b"XGBRS not really a model")
        wait_for(lambda: metric(server, "gbinfer_model_load_failures_total", "m") == 1)
        # 3. a load request names another file: version 3, and the previous version stays addressable;
        # only files beside the served ones can be named
        status, body = post(server, "/v2/repository/models/m/load", {"parameters": {"path": str(models[2][0])}})
        assert status == 403 and "directories" in body["error"]
        (tmp_path / "v3.xgbrs").write_bytes(models[2][0].read_bytes())
        status, body = post(server, "/v2/repository/models/m/load",
                            {"parameters": {"path": str(tmp_path / "v3.xgbrs")}})
        assert (status, body) == (200, {"name": "m", "version": "3"})
        wait_for(lambda: "3" in seen)
        # 4. a load request for a file that does not load: 400, version 3 stays
        status, body = post(server, "/v2/repository/models/m/load", {"parameters": {"path": str(serving)}})
        assert status == 400 and "not loaded" in body["error"]
        time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join()
        assert failures == []
        assert seen == {"1", "2", "3"}
        total = sum(counts)
        assert total > 20, total
        assert metric(server, "gbinfer_model_load_failures_total", "m") == 2
        assert metric(server, "gbinfer_model_version", "m") == 3
        status, body = post(server, "/v2/models/m/versions/2/infer", doc)
        assert status == 200 and body["model_version"] == "2"
        np.testing.assert_array_equal(np.array(body["outputs"][0]["data"], np.float32),
                                      models[1][1].predict(X))


def test_signed_models_need_the_trusted_key(versions, tmp_path):
    from gbinfer import apr

    _, X, models = versions
    seller, buyer = KEYS / "test-key-seller.pem", KEYS / "test-key-buyer.pem"
    trusted = str(KEYS / "test-key-seller.pub.pem")
    signed = [tmp_path / f"signed{i}.apr" for i in (1, 2)]
    apr.save(models[0][1], signed[0], signing_key=seller)
    apr.save(models[1][1], signed[1], signing_key=seller)
    apr.save(models[1][1], tmp_path / "unsigned.apr")
    apr.save(models[1][1], tmp_path / "other.apr", signing_key=buyer)
    gbinfer.save(models[1][1], tmp_path / "plain.xgbrs")
    with pytest.raises(errors.KeyRequired, match="--trusted-key"):
        BackgroundServer({"m": str(signed[0])})
    with BackgroundServer({"m": str(signed[0])}, trusted_key=trusted) as server:
        for name, refusal in (("unsigned.apr", "not signed"), ("other.apr", "signed by"),
                              ("plain.xgbrs", "not an .apr file")):
            status, body = post(server, "/v2/repository/models/m/load",
                                {"parameters": {"path": str(tmp_path / name)}})
            assert status == 400 and refusal in body["error"]
        assert metric(server, "gbinfer_model_load_failures_total", "m") == 3
        status, body = post(server, "/v2/repository/models/m/load", {"parameters": {"path": str(signed[1])}})
        assert (status, body) == (200, {"name": "m", "version": "2"})
        doc = {"inputs": [{"name": "input", "shape": list(X.shape), "datatype": "FP32", "data": X.ravel().tolist()}]}
        status, body = post(server, "/v2/models/m/infer", doc)
        np.testing.assert_array_equal(np.array(body["outputs"][0]["data"], np.float32), models[1][2].astype(np.float32))
