"""``gbinfer serve --workers 2 --watch``: the command as users run it, two processes behind one
socket, metrics added up across them, a load request and a changed file reaching both, a clean
stop on SIGTERM."""

from __future__ import annotations

import http.client
import os
import signal
import re
import threading
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import orjson

import gbinfer

ROOT = Path(__file__).resolve().parent.parent


def get(port, path, method="GET", body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def children(pid: int) -> list:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_two_workers_share_the_socket_and_the_metrics(tmp_path):
    import xgboost

    rng = np.random.default_rng(5)
    X = rng.normal(size=(500, 10)).astype(np.float32)
    y = X[:, 0] * 2 - X[:, 4]
    models = [gbinfer.load(xgboost.XGBRegressor(n_estimators=n, max_depth=4).fit(X, y)) for n in (8, 16, 24)]
    gbinfer.save(models[0], tmp_path / "a.xgbrs")
    gbinfer.save(models[1], tmp_path / "b.xgbrs")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "gbinfer", "serve", f"reg={tmp_path / 'a.xgbrs'}", "--port", "0",
               "--workers", "2", "--watch", "--watch-interval", "0.1"]
    proc = subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    log = []
    threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True).start()  # keeps the pipe drained
    try:
        deadline = time.monotonic() + 90
        port = None
        while True:
            assert proc.poll() is None, "the server exited:\n" + "".join(log)
            found = [re.search(r"serving reg on http://127.0.0.1:(\d+)", line) for line in log]
            port = next((int(m.group(1)) for m in found if m), None)
            try:
                if port and get(port, "/v2/health/ready")[0] == 200 and len(children(proc.pid)) == 2:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready:\n" + "".join(log)
            time.sleep(0.2)
        workers = children(proc.pid)

        def infer(i):
            rows = X[i:i + 5]
            doc = {"inputs": [{"name": "input", "shape": [5, 10], "datatype": "FP32", "data": rows.ravel().tolist()}]}
            status, body = get(port, "/v2/models/reg/infer", "POST", orjson.dumps(doc))
            assert status == 200, body
            out = orjson.loads(body)
            return out["model_version"], np.array(out["outputs"][0]["data"], dtype=np.float32)

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(infer, range(40)))
        for i, (version, got) in enumerate(results):
            assert version == "1"
            np.testing.assert_array_equal(got, models[0].predict(X[i:i + 5]))
        # each scrape lands on one worker; the figures are both workers' together
        _, text = get(port, "/metrics")
        counts = [line for line in text.decode().splitlines()
                  if line.startswith('gbinfer_request_duration_seconds_count{model="reg"}')]
        assert counts and float(counts[0].split()[-1]) == 40, text.decode()
        # a load request reaches one worker; the other follows
        status, body = get(port, "/v2/repository/models/reg/load", "POST",
                           orjson.dumps({"parameters": {"path": str(tmp_path / "b.xgbrs")}}))
        assert status == 200 and orjson.loads(body)["version"] == "2"
        deadline = time.monotonic() + 30
        while not all(infer(0)[0] == "2" for _ in range(10)):
            assert time.monotonic() < deadline, "a worker did not follow the reload"
            time.sleep(0.1)
        with ThreadPoolExecutor(8) as pool:
            for version, got in pool.map(lambda i: infer(0), range(16)):
                assert version == "2"
                np.testing.assert_array_equal(got, models[1].predict(X[:5]))
        # --watch: the parent sees the file change, both workers load version 3
        gbinfer.save(models[2], tmp_path / "b.xgbrs")  # written beside, renamed over the old file
        deadline = time.monotonic() + 30
        while not all(infer(0)[0] == "3" for _ in range(10)):
            assert time.monotonic() < deadline, "the change was not followed:\n" + "".join(log)
            time.sleep(0.1)
        np.testing.assert_array_equal(infer(0)[1], models[2].predict(X[:5]))
        assert children(proc.pid) == workers, "".join(log)  # nobody crashed and was replaced
        # a worker that dies is replaced, and its successor serves the current version, not the first
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while len(set(children(proc.pid)) - set(workers)) != 1 or \
                sum("Application startup complete" in line for line in log) < 3:  # the successor is ready
            assert time.monotonic() < deadline, "the worker was not replaced:\n" + "".join(log)
            time.sleep(0.1)
        with ThreadPoolExecutor(8) as pool:
            for version, got in pool.map(lambda i: infer(0), range(64)):
                assert version == "3"
                np.testing.assert_array_equal(got, models[2].predict(X[:5]))
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0
    assert not any(Path(f"/proc/{pid}").exists() and "gbinfer" in Path(f"/proc/{pid}/cmdline").read_text()
                   for pid in workers[1:])


def test_the_command_refuses_bad_models_with_one_line(tmp_path, capsys):
    from gbinfer.cli import main

    assert main(["serve", "no-name-given.xgbrs"]) == 2
    assert "expected NAME=PATH" in capsys.readouterr().err
    (tmp_path / "bad.xgbrs").write_bytes(b"XGBRS and then nothing a model needs")
    assert main(["serve", f"m={tmp_path / 'bad.xgbrs'}", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gbinfer: error: ") and "bad.xgbrs" in err and err.count("\n") == 1
