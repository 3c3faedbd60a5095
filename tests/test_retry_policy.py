"""The one retry policy and the one `Retry-After` parser (shared/platform/retry.py): pure functions, no server."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from shared.catalog.gpu_pools import SelectionError
from shared.clients.hub import HubError
from shared.clients.runpod import RunpodError
from shared.deploy.desired_state import ScalingFailed
from shared.platform.faults import Fault
from shared.platform.retry import (
    FULL_JITTER,
    MAX_RETRY_AFTER_SECONDS,
    RetryPolicy,
    parse_retry_after,
    step_policy,
    store_policy,
)
from shared.platform.settings import Settings
from shared.queue.local_dispatcher import DispatchPolicy

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def lowest(low: float, high: float) -> float:
    return low


def highest(low: float, high: float) -> float:
    return high


# ---- the policy ----------------------------------------------------------------------------------


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    policy = RetryPolicy(base=2.0, cap=300.0)
    assert [policy.delay(n) for n in range(1, 10)] == [2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert policy.delay(10_000) == 300.0  # no overflow however many attempts


def test_jitter_scales_the_capped_backoff_within_its_range() -> None:
    policy = RetryPolicy(base=2.0, cap=300.0, jitter=(0.8, 1.2))
    assert policy.delay(3, uniform=lowest) == pytest.approx(6.4)
    assert policy.delay(3, uniform=highest) == pytest.approx(9.6)
    assert policy.delay(50, uniform=highest) == pytest.approx(360.0)  # jitter applies after the cap
    rng = random.Random(7)
    draws = [policy.delay(3, uniform=rng.uniform) for _ in range(500)]
    assert min(draws) >= 6.4 and max(draws) <= 9.6 and len(set(draws)) > 100


def test_full_jitter_waits_anywhere_from_nothing_to_the_backoff() -> None:
    policy = RetryPolicy(base=0.01, cap=0.5, jitter=FULL_JITTER)
    assert policy.delay(1, uniform=lowest) == 0.0
    assert policy.delay(1, uniform=highest) == pytest.approx(0.01)
    assert policy.delay(12, uniform=highest) == pytest.approx(0.5)


def test_retry_after_is_a_floor_never_shortened_by_jitter() -> None:
    policy = RetryPolicy(base=2.0, cap=300.0, jitter=(0.8, 1.2))
    assert policy.delay(1, retry_after=30.0, uniform=highest) == 30.0
    assert policy.delay(9, retry_after=30.0, uniform=lowest) == pytest.approx(240.0)  # the backoff is longer
    assert policy.delay(1, retry_after=0.0, uniform=lowest) == pytest.approx(1.6)
    assert policy.delay(1, retry_after=None, uniform=lowest) == pytest.approx(1.6)


def test_max_attempts_counts_failed_attempts() -> None:
    three = RetryPolicy(base=1.0, cap=1.0, max_attempts=3)
    assert [three.exhausted(n) for n in (1, 2, 3, 4)] == [False, False, True, True]
    assert not RetryPolicy(base=1.0, cap=1.0).exhausted(10**9)  # no limit of its own
    assert three.with_max_attempts(5).exhausted(4) is False and three.max_attempts == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base": 0.0, "cap": 1.0},
        {"base": 1.0, "cap": -1.0},
        {"base": 1.0, "cap": 1.0, "jitter": (1.2, 0.8)},
        {"base": 1.0, "cap": 1.0, "jitter": (-0.1, 1.0)},
        {"base": 1.0, "cap": 1.0, "max_attempts": 0},
    ],
)
def test_nonsense_policies_are_refused(kwargs) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def test_attempts_are_counted_from_one() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(base=1.0, cap=1.0).delay(0)


def test_each_loop_takes_its_numbers_from_the_settings() -> None:
    settings = Settings(
        retry_base_seconds=3,
        retry_max_seconds=90,
        retry_jitter=0.1,
        retry_max_attempts=5,
        store_update_attempts=4,
        store_retry_base_seconds=0.02,
        store_retry_max_seconds=0.3,
    )
    assert step_policy(settings) == RetryPolicy(base=3, cap=90, jitter=(0.9, 1.1), max_attempts=5)
    assert store_policy(settings) == RetryPolicy(base=0.02, cap=0.3, jitter=FULL_JITTER, max_attempts=4)
    queue = DispatchPolicy(max_attempts=7, min_backoff=0.5, max_backoff=60.0).retry
    assert queue == RetryPolicy(base=0.5, cap=60.0, max_attempts=7)


def test_the_defaults_keep_the_documented_numbers() -> None:
    defaults = Settings()
    step = step_policy(defaults)
    assert (step.base, step.cap, step.max_attempts) == (2.0, 300.0, 12)
    assert step.jitter == pytest.approx((0.8, 1.2))
    assert store_policy(defaults) == RetryPolicy(base=0.01, cap=0.5, jitter=FULL_JITTER, max_attempts=12)
    assert DispatchPolicy().retry == RetryPolicy(base=0.5, cap=60.0, max_attempts=100)


# ---- the Retry-After parser ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),  # not RFC 9110, but sent by some servers
        ("99999999999999999999", MAX_RETRY_AFTER_SECONDS),  # absurdly long: a day
        ("9" * 400, MAX_RETRY_AFTER_SECONDS),  # past what a float holds: still a day
    ],
)
def test_delta_seconds(header, seconds) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(
    ("when", "seconds"),
    [
        (NOW + timedelta(seconds=90), 90.0),
        (NOW - timedelta(seconds=90), 0.0),  # already past: go now
        (NOW + timedelta(days=30), MAX_RETRY_AFTER_SECONDS),
    ],
)
def test_http_dates(when, seconds) -> None:
    assert parse_retry_after(format_datetime(when, usegmt=True), now=NOW) == seconds


def test_an_http_date_without_a_zone_is_utc() -> None:
    assert parse_retry_after("Wed, 04 Mar 2026 05:07:07 -0000", now=NOW) == 60.0
    assert parse_retry_after("Wed, 04 Mar 2026 06:07:07 +0100", now=NOW) == 60.0


@pytest.mark.parametrize(
    "header", [None, "", "   ", "soon", "-5", "inf", "Infinity", "nan", "1e400", "1e3", "0x10", "Mon, 99 Foo"]
)
def test_unusable_values_are_ignored(header) -> None:
    assert parse_retry_after(header, now=NOW) is None


def test_without_now_dates_are_read_against_the_clock() -> None:
    soon = datetime.now(UTC) + timedelta(seconds=120)
    assert 100.0 < (parse_retry_after(format_datetime(soon, usegmt=True)) or 0.0) <= 120.0


# ---- the fault type --------------------------------------------------------------------------------


def test_every_upstream_failure_is_one_fault_type_with_its_code() -> None:
    faults: list[Fault] = [
        RunpodError("rate_limited", "slow down", 429, retry_after=5.0),
        RunpodError("quota", "no more workers", 403),
        RunpodError("something_new", "?", 418),
        HubError("hf_unavailable", "down", transient=True),
        HubError("model_gated", "gated"),
        SelectionError("no_gpu_fits", "too big"),
        ScalingFailed("unavailable", "not confirmed", transient=True),
    ]
    assert [(f.code, f.transient, f.retry_after) for f in faults] == [
        ("runpod_unavailable", True, 5.0),
        ("runpod_quota_exceeded", False, None),
        ("runpod_unavailable", False, None),
        ("hf_unavailable", True, None),
        ("model_gated", False, None),
        ("no_gpu_fits", False, None),
        ("runpod_unavailable", True, None),
    ]
    assert faults[0].kind == "rate_limited" and faults[0].status == 429 and str(faults[0]) == "slow down"
