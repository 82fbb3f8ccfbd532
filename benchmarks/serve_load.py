"""Load generator of the serving benchmark: one client process driving a KServe v2 server through
``tritonclient.http.aio`` (Triton's own asyncio client), so every request body on the wire is the
one that client writes: JSON tensors, or its binary-tensor extension with ``--binary``.

Run by ``bench_serve.py`` as ``python benchmarks/serve_load.py SPEC.json RESULT.npz``; several of
these processes may share one phase. Modes:

- ``open``: sends at the precomputed offsets (seconds after ``start_at``, wall clock), without
  waiting for answers. Latency is kept twice: from the scheduled send time (what a user waiting on
  that schedule sees, including any lag of this client) and from the moment the request task ran.
- ``closed``: ``concurrency`` tasks, each sending its next request when the previous one is
  answered, for ``duration`` seconds: the throughput at saturation.

The client runs on uvloop when it is installed, opens its connections before the phase's clock
starts, and freezes its long-lived objects out of the garbage collector's full passes (see
``_warm``, ``_event_loop_runner``, ``_main``): each of them had cost the measured tail several
milliseconds that were the client's, not the server's.

Every phase is bounded: requests still unanswered ``grace`` seconds after the last send are
cancelled and counted as errors. The result also holds this process's CPU seconds, because the
client shares the machine's cores with the server under test.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time

import numpy as np

WARM_CONNECTIONS = 16


def request_headers(binary: bool) -> dict | None:
    """The asyncio client posts its bytes as ``application/octet-stream``; MLServer (FastAPI) then
    refuses a JSON body (422 "Input should be a valid dictionary"), so a JSON request says what it
    is. A binary-extension request keeps the client's default."""
    return None if binary else {"Content-Type": "application/json"}


def machine_cpu_seconds() -> np.ndarray:
    """[busy, stolen] CPU seconds of all the machine's cores since boot (Linux /proc/stat; NaN
    elsewhere). Over a phase, busy less the server's and the client's is what other programs
    took; stolen is the time a virtual machine's cores were given to other machines."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return np.full(2, np.nan)
    # user nice system idle iowait irq softirq steal: busy is all but idle, iowait and steal
    return np.array([sum(ticks[:3]) + ticks[5] + ticks[6], ticks[7]]) / os.sysconf("SC_CLK_TCK")


def _request_pool(spec: dict, rows: np.ndarray) -> list:
    """One prepared one-row input per distinct row, reused round-robin (the client serialises the
    body again on every call, as an application would)."""
    from tritonclient.http import InferInput
    from tritonclient.utils import triton_to_np_dtype

    pool = []
    for row in rows:
        tensor = InferInput(spec["input_name"], [1, rows.shape[1]], spec["datatype"])
        tensor.set_data_from_numpy(row[None, :].astype(triton_to_np_dtype(spec["datatype"])),
                                   binary_data=spec["binary"])
        pool.append([tensor])
    return pool


async def _open_loop(client, spec, pool, outputs, headers) -> dict:
    offsets = np.asarray(spec["offsets"], dtype=np.float64)
    n = offsets.size
    from_schedule = np.full(n, np.nan)
    from_send = np.full(n, np.nan)
    lag = np.full(n, np.nan)
    failures = []
    clock = time.perf_counter
    start = clock() + max(0.0, spec["start_at"] - time.time())

    async def one(i: int, scheduled: float) -> None:
        sent = clock()
        lag[i] = sent - scheduled
        try:
            await client.infer(spec["model"], pool[i % len(pool)], outputs=outputs, headers=headers)
        except Exception as exc:  # counted, and the first few kept for the report
            failures.append(repr(exc)[:200])
            return
        done = clock()
        from_schedule[i] = done - scheduled
        from_send[i] = done - sent

    cpu0, busy0 = time.process_time(), machine_cpu_seconds()
    tasks = []
    i = 0
    while i < n:
        now = clock()
        while i < n and start + offsets[i] <= now:
            tasks.append(asyncio.create_task(one(i, start + offsets[i])))
            i += 1
        if i < n:
            await asyncio.sleep(start + offsets[i] - clock())
    tasks = [task for task in tasks if not task.done()]  # waiting on all of them costs ~10 ms at the end
    _, pending = await asyncio.wait(tasks, timeout=spec["grace"]) if tasks else (set(), set())
    for task in pending:
        task.cancel()
    cpu, busy = time.process_time() - cpu0, machine_cpu_seconds() - busy0
    answered = ~np.isnan(from_schedule)
    return {
        "from_schedule": from_schedule[answered], "from_send": from_send[answered],
        "lag": lag[~np.isnan(lag)], "sent": n, "errors": n - int(answered.sum()),
        "cpu": cpu, "machine_cpu": busy, "failures": failures[:5],
    }


async def _closed_loop(client, spec, pool, outputs, headers) -> dict:
    clock = time.perf_counter
    await asyncio.sleep(max(0.0, spec["start_at"] - time.time()))
    latencies: list[float] = []
    failures: list[str] = []
    start = clock()
    stop = start + spec["duration"]

    async def worker(k: int) -> None:
        j = k
        while clock() < stop:
            t = clock()
            try:
                await client.infer(spec["model"], pool[j % len(pool)], outputs=outputs, headers=headers)
            except Exception as exc:
                failures.append(repr(exc)[:200])
            else:
                latencies.append(clock() - t)
            j += spec["concurrency"]

    cpu0, busy0 = time.process_time(), machine_cpu_seconds()
    workers = [asyncio.create_task(worker(k)) for k in range(spec["concurrency"])]
    _, pending = await asyncio.wait(workers, timeout=spec["duration"] + spec["grace"])
    for task in pending:
        task.cancel()
    elapsed = clock() - start
    return {
        "from_send": np.asarray(latencies), "errors": len(failures) + len(pending),
        "elapsed": elapsed, "cpu": time.process_time() - cpu0, "machine_cpu": machine_cpu_seconds() - busy0,
        "failures": failures[:5],
    }


async def _warm(client, spec, pool, outputs, headers) -> None:
    """Before the phase's clock starts: open ``WARM_CONNECTIONS`` connections (a fresh client
    opened them during the first bursts of the phase, 20-40 ms of stalls in its first second) and
    make the client's first calls. Not counted."""
    for _ in range(4):
        await asyncio.gather(*(client.infer(spec["model"], pool[k % len(pool)], outputs=outputs, headers=headers)
                               for k in range(WARM_CONNECTIONS)))


async def _main(spec: dict) -> dict:
    from tritonclient.http import InferRequestedOutput
    from tritonclient.http.aio import InferenceServerClient

    rows = np.load(spec["rows"])
    pool = _request_pool(spec, rows)
    outputs = [InferRequestedOutput(name, binary_data=spec["binary"]) for name in spec["outputs"]]
    headers = request_headers(spec["binary"])
    client = InferenceServerClient(spec["url"], conn_limit=spec["conn_limit"], conn_timeout=spec["request_timeout"])
    try:
        await _warm(client, spec, pool, outputs, headers)
        # numpy, aiohttp and tritonclient are ~100k long-lived objects: a full collection walks them
        # all (12-25 ms, several times a phase), stalling every request in flight. Frozen, it does not.
        gc.collect()
        gc.freeze()
        if spec["mode"] == "open":
            return await _open_loop(client, spec, pool, outputs, headers)
        return await _closed_loop(client, spec, pool, outputs, headers)
    finally:
        await client.close()


def _event_loop_runner():
    """uvloop's when it is installed (as the server under test uses it): with asyncio's own loop
    this client lagged its schedule twice as much and doubled the p99 it measured (at 1000 req/s
    on 2 cores, for the same CPU)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec_path, result_path = argv
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    result = _event_loop_runner()(_main(spec))
    failures = result.pop("failures")
    np.savez(result_path, failures=np.asarray(failures, dtype=str), **{k: np.asarray(v) for k, v in result.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
