"""Where a simulated endpoint's workers are: a pure function of its age, scenario, model size and scaling.

A worker boots (image pull), downloads the model, loads it, then serves; durations grow with the
model's weights and are multiplied by SANDBOX_TIME_SCALE (a few seconds at 1.0). Nothing is stored
about the phase, so any instance, before or after a restart, computes the same answer for the same time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Stage = Literal["booting", "downloading_model", "loading_model", "ready", "crashed", "throttled"]
WORKER_STATES = ("idle", "initializing", "ready", "running", "throttled", "unhealthy")
SLOW_START_SECONDS = 150.0  # slow_start: about this long before ready, whatever the model


@dataclass(frozen=True)
class Timeline:
    boot: float
    download: float
    load: float

    @property
    def download_starts(self) -> float:
        return self.boot

    @property
    def load_starts(self) -> float:
        return self.boot + self.download

    @property
    def ready_after(self) -> float:
        return self.boot + self.download + self.load


@dataclass(frozen=True)
class Phase:
    stage: Stage
    progress: int  # percent done of this stage (100 once past it)


def timeline(scenario: str, weights_gb: float, scale: float) -> Timeline:
    gb = max(0.1, weights_gb)
    boot, download, load = 0.5, 0.5 + 0.15 * gb, 0.4 + 0.08 * gb
    factor = scale
    if scenario == "slow_start":
        factor *= max(20.0, SLOW_START_SECONDS / (boot + download + load))
    return Timeline(boot * factor, download * factor, load * factor)


def phase_at(line: Timeline, scenario: str, elapsed: float) -> Phase:
    if scenario == "no_capacity":
        return Phase("throttled", 0)  # no GPU of the pools is free: the worker never starts
    if elapsed < line.download_starts:
        return Phase("booting", _percent(elapsed, 0.0, line.boot))
    if elapsed < line.load_starts:
        return Phase("downloading_model", _percent(elapsed, line.download_starts, line.download))
    if elapsed < line.ready_after:
        return Phase("loading_model", _percent(elapsed, line.load_starts, line.load))
    if scenario == "crash_loop":
        return Phase("crashed", 100)  # dies when it loads the model, restarts, dies again
    return Phase("ready", 100)


def _percent(elapsed: float, start: float, length: float) -> int:
    return max(0, min(99, int(100 * (elapsed - start) / length))) if length > 0 else 99


def worker_counts(phase: Phase, workers_min: int, workers_max: int, active: bool) -> dict[str, int]:
    """Runpod's health `workers`: `workers_min` run always, one more while there is work (`active`)."""
    counts = dict.fromkeys(WORKER_STATES, 0)
    wanted = min(workers_max, max(workers_min, 1 if active else 0))
    if wanted <= 0:
        return counts
    if phase.stage == "throttled":
        counts["throttled"] = wanted
    elif phase.stage == "crashed":
        counts["unhealthy"] = wanted
    elif phase.stage == "ready":
        counts["idle"] = counts["ready"] = wanted
    else:
        counts["initializing"] = wanted
    return counts


def job_stage(queued_for: float, ready_in: float | None, run_seconds: float) -> str:
    """A job's Runpod status `queued_for` seconds after it was queued, its worker ready in `ready_in`
    seconds (None: never) and each job taking `run_seconds`."""
    if ready_in is None:
        return "IN_QUEUE"
    started = max(0.0, ready_in)
    if queued_for < started:
        return "IN_QUEUE"
    return "IN_PROGRESS" if queued_for < started + run_seconds else "COMPLETED"
