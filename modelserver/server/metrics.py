"""Prometheus metrics: the engine reports timings as they happen; gauges are read at scrape time."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from modelserver.engine.sequence import Sequence

_LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """Also the engine's `Observer`; its methods are called from the engine thread."""

    def __init__(self, read_state: Callable[[], dict[str, float]], window_s: float = 10.0) -> None:
        self.registry = CollectorRegistry()
        self._read_state = read_state
        r = self.registry
        self.running = Gauge(
            "modelserver_requests_running", "Requests in the running batch", registry=r
        )
        self.waiting = Gauge(
            "modelserver_requests_waiting", "Requests queued for admission", registry=r
        )
        self.kv_usage = Gauge(
            "modelserver_kv_cache_usage_ratio",
            "Fraction of cache blocks held by requests",
            registry=r,
        )
        self.kv_blocks = Gauge(
            "modelserver_kv_cache_blocks_used", "Cache blocks held by requests", registry=r
        )
        self.kv_total = Gauge("modelserver_kv_cache_blocks_total", "Cache blocks", registry=r)
        self.tokens_per_s = Gauge(
            "modelserver_generation_tokens_per_second",
            f"Generated tokens per second over the last {window_s:g} s",
            registry=r,
        )
        self.prompt_tokens = Counter(
            "modelserver_prompt_tokens",
            "Prompt tokens computed (prefix-cache hits excluded)",
            registry=r,
        )
        self.generation_tokens = Counter(
            "modelserver_generation_tokens", "Tokens generated", registry=r
        )
        self.cached_tokens = Counter(
            "modelserver_prefix_cache_hit_tokens",
            "Prompt tokens served by the prefix cache",
            registry=r,
        )
        self.preemptions = Gauge(
            "modelserver_preemptions", "Requests preempted for cache space since start", registry=r
        )
        self.requests = Counter(
            "modelserver_requests_finished", "Finished requests", ["finish_reason"], registry=r
        )
        self.ttft = Histogram(
            "modelserver_time_to_first_token_seconds",
            "From request arrival to its first token",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.itl = Histogram(
            "modelserver_inter_token_latency_seconds",
            "Between two tokens of one request",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.e2e = Histogram(
            "modelserver_request_latency_seconds",
            "From request arrival to its last token",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._window_s = window_s
        self._recent: deque[tuple[float, int]] = deque()  # (time, tokens) per step
        self._lock = threading.Lock()

    # Observer
    def first_token(self, seconds: float) -> None:
        self.ttft.observe(seconds)

    def inter_token(self, seconds: float) -> None:
        self.itl.observe(seconds)

    def step(self, prompt_tokens: int, generated_tokens: int) -> None:
        self.prompt_tokens.inc(prompt_tokens)
        self.generation_tokens.inc(generated_tokens)
        with self._lock:
            self._recent.append((time.monotonic(), generated_tokens))

    def finished(self, seq: Sequence) -> None:
        """A request left the engine: done, or aborted (no finish reason)."""
        self.requests.labels(seq.finish_reason or "abort").inc()
        self.cached_tokens.inc(seq.num_cached_prompt)
        self.e2e.observe(time.monotonic() - seq.arrival)

    def render(self) -> bytes:
        state = self._read_state()
        self.running.set(state["running"])
        self.waiting.set(state["waiting"])
        self.kv_usage.set(state["kv_usage"])
        self.kv_blocks.set(state["kv_blocks_used"])
        self.kv_total.set(state["kv_blocks_total"])
        self.preemptions.set(state["preemptions"])
        now = time.monotonic()
        with self._lock:
            while self._recent and self._recent[0][0] < now - self._window_s:
                self._recent.popleft()
            tokens = sum(n for _, n in self._recent)
        self.tokens_per_s.set(tokens / self._window_s)
        return generate_latest(self.registry)
