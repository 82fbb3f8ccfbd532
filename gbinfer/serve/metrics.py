"""``/metrics`` in the Prometheus text format, through ``prometheus_client``.

With several worker processes each one writes its values to files in a shared directory
(``prometheus_client``'s multiprocess mode, chosen by ``PROMETHEUS_MULTIPROC_DIR`` before the
package is imported), and a scrape of any worker adds them all up, so the figures are the
server's, not one worker's.
"""

from __future__ import annotations

import os

LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536)
REQUEST_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128)


class Metrics:
    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        reg = None if self.multiprocess else self.registry  # multiprocess: collected from the files at scrape
        self.latency = Histogram("gbinfer_request_duration_seconds", "Inference request latency, body read to "
                                 "response built", ["model"], buckets=LATENCY_BUCKETS, registry=reg)
        self.batch_rows = Histogram("gbinfer_batch_rows", "Rows per kernel call", ["model"], buckets=ROW_BUCKETS,
                                    registry=reg)
        self.batch_requests = Histogram("gbinfer_batch_requests", "Requests sharing one kernel call", ["model"],
                                        buckets=REQUEST_BUCKETS, registry=reg)
        self.errors = Counter("gbinfer_request_errors", "Requests answered with an error, by HTTP status",
                              ["model", "status"], registry=reg)
        self.version = Gauge("gbinfer_model_version", "Version of the model serving requests", ["model"],
                             registry=reg, multiprocess_mode="max")
        self.loads = Counter("gbinfer_model_loads", "Model versions loaded", ["model"], registry=reg)
        self.load_failures = Counter("gbinfer_model_load_failures", "Model files refused on (re)load; the "
                                     "version serving stays", ["model"], registry=reg)

    def batch(self, model: str):
        """The ``on_batch`` callback of a model's batcher."""
        rows, requests = self.batch_rows.labels(model), self.batch_requests.labels(model)

        def record(n_requests: int, n_rows: int) -> None:
            requests.observe(n_requests)
            rows.observe(n_rows)

        return record

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        registry = self.registry
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
