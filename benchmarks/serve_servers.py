"""The two servers of the serving benchmark, started the same way: gbinfer's ``gbinfer serve`` and
MLServer with its XGBoost runtime (from the venv ``setup_mlserver.sh`` makes), each listening on
127.0.0.1 only, in its own process group so that stopping it ends every worker it started.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    """A port nothing listens on now (the OS picks it; a race with another program is unlikely)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def gbinfer_command(name: str, model: Path, port: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "gbinfer", "serve", f"{name}={model}", "--port", str(port),
            "--workers", str(workers), "--host", HOST]


def mlserver_command(venv: Path, name: str, model: Path, num_features: int, port: int, workers: int,
                     folder: Path) -> list[str]:
    """Writes MLServer's settings.json and the model's model-settings.json into ``folder``.

    ``parallel_workers`` is MLServer's count of inference processes (beside the one HTTP process);
    debug is off (no access log) and the metrics endpoint is off, MLServer's fastest configuration.
    The input and output are declared so that the model's metadata names them, as gbinfer's does.
    """
    model_dir = folder / name
    model_dir.mkdir(parents=True, exist_ok=True)
    settings = {"debug": False, "host": HOST, "http_port": port, "grpc_port": free_port(),
                "metrics_endpoint": None, "parallel_workers": workers}
    model_settings = {
        "name": name,
        "implementation": "mlserver_xgboost.XGBoostModel",
        "inputs": [{"name": "input-0", "datatype": "FP32", "shape": [-1, num_features]}],
        "outputs": [{"name": "predict", "datatype": "FP32", "shape": [-1]}],
        "parameters": {"uri": str(model), "version": "v1"},
    }
    (folder / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    (model_dir / "model-settings.json").write_text(json.dumps(model_settings), encoding="utf-8")
    return [str(venv / "bin" / "mlserver"), "start", str(folder)]


class Server:
    """A server subprocess in its own session; ``stop`` ends the whole process group."""

    def __init__(self, label: str, command: list[str], port: int, model: str, log: Path, cwd: Path,
                 env: dict | None = None):
        self.label, self.command, self.port, self.model, self.log = label, command, port, model, log
        self._log_file = open(log, "wb")
        self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=self._log_file,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)

    @property
    def url(self) -> str:
        return f"{HOST}:{self.port}"

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://{self.url}{path}", timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_ready(self, timeout: float) -> None:
        """Until the model answers ready; fails with the server's log tail if it exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self.get(f"/v2/models/{self.model}/ready", timeout=2.0)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{self.label} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def metadata(self) -> dict:
        status, body = self.get(f"/v2/models/{self.model}")
        if status != 200:
            raise RuntimeError(f"{self.label}: model metadata answered {status}: {body[:300]!r}")
        return json.loads(body)

    def cpu_seconds(self) -> float:
        """User + system CPU of every live process in the server's process group."""
        return group_cpu_seconds(self.process.pid)

    def log_tail(self, lines: int = 30) -> str:
        self._log_file.flush()
        text = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL after 10 s; always closes the log."""
        try:
            if self.process.poll() is None:
                _signal_group(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            _signal_group(self.process.pid, signal.SIGKILL)  # workers that outlived their parent
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        finally:
            self._log_file.close()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_cpu_seconds(pgid: int) -> float:
    """Sum of utime + stime over /proc for the processes whose process group is ``pgid``."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state (field 3 of stat): pgrp is field 5, utime 14, stime 15.
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / tick
