"""The refresh decision, as a table: a pure function of (token, now)."""

from __future__ import annotations

import pytest

from adapters._tokens import Action, RefreshPolicy, TokenState, decide

T0 = 1_000_000.0
POLICY = RefreshPolicy()  # advisory 300 s, mandatory 60 s
HOUR = POLICY.snapshot("t", T0 + 3600, obtained_at=T0)
TWO_SECONDS = POLICY.snapshot("t", T0 + 2, obtained_at=T0)
WITH_HINT = POLICY.snapshot("t", T0 + 86400, obtained_at=T0, refresh_on=T0 + 43200)


@pytest.mark.parametrize(
    ("snapshot", "elapsed", "min_lifetime", "retry_at", "expected"),
    [
        (None, 0, 0, 0, Action.WAIT_FOR_REFRESH),
        (HOUR, 0, 0, 0, Action.SERVE),
        (HOUR, 3299, 0, 0, Action.SERVE),
        (HOUR, 3300, 0, 0, Action.REFRESH_IN_BACKGROUND),
        (HOUR, 3539, 0, 0, Action.REFRESH_IN_BACKGROUND),
        (HOUR, 3540, 0, 0, Action.WAIT_FOR_REFRESH),
        (HOUR, 3600, 0, 0, Action.WAIT_FOR_REFRESH),
        (HOUR, 99999, 0, 0, Action.WAIT_FOR_REFRESH),
        (HOUR, 3400, 0, T0 + 3500, Action.SERVE),
        (HOUR, 3500, 0, T0 + 3500, Action.REFRESH_IN_BACKGROUND),
        (HOUR, 3545, 0, T0 + 9999, Action.WAIT_FOR_REFRESH),
        (HOUR, 0, 3601, 0, Action.WAIT_FOR_REFRESH),
        (HOUR, 0, 3600, 0, Action.SERVE),
        (HOUR, 100, 3500, 0, Action.SERVE),
        (HOUR, 101, 3500, 0, Action.WAIT_FOR_REFRESH),
        (TWO_SECONDS, 0.5, 0, 0, Action.SERVE),
        (TWO_SECONDS, 0.99, 0, 0, Action.SERVE),
        (TWO_SECONDS, 1.0, 0, 0, Action.REFRESH_IN_BACKGROUND),
        (TWO_SECONDS, 1.79, 0, 0, Action.REFRESH_IN_BACKGROUND),
        (TWO_SECONDS, 1.8, 0, 0, Action.WAIT_FOR_REFRESH),
        (WITH_HINT, 43199, 0, 0, Action.SERVE),
        (WITH_HINT, 43200, 0, 0, Action.REFRESH_IN_BACKGROUND),
        (WITH_HINT, 86340, 0, 0, Action.WAIT_FOR_REFRESH),
    ],
    ids=[
        "cold-start-waits",
        "hour-token-fresh",
        "hour-token-just-before-advisory",
        "hour-token-advisory-starts-300s-before",
        "hour-token-late-advisory",
        "hour-token-mandatory-60s-before",
        "hour-token-at-expiry",
        "clock-jumped-far-past-expiry",
        "advisory-during-backoff-serves",
        "advisory-after-backoff-refreshes",
        "mandatory-ignores-backoff",
        "min-lifetime-beyond-token-waits",
        "min-lifetime-exactly-met-serves",
        "min-lifetime-met-with-margin",
        "min-lifetime-missed-by-a-second",
        "short-token-fresh-half-life",
        "short-token-advisory-is-half-lifetime",
        "short-token-advisory-starts",
        "short-token-before-mandatory-tenth",
        "short-token-mandatory-is-tenth",
        "refresh-on-hint-not-yet",
        "refresh-on-hint-honoured",
        "refresh-on-hint-mandatory-still-applies",
    ],
)
def test_decision_table(snapshot, elapsed, min_lifetime, retry_at, expected):
    """Each (token, time, min_lifetime, back-off) case maps to one action."""
    assert decide(snapshot, T0 + elapsed, min_lifetime=min_lifetime, retry_at=retry_at) is expected


def test_states_follow_google_auth_vocabulary():
    """A token is FRESH, then STALE in the advisory window, then INVALID."""
    states = [HOUR.state(T0 + s) for s in (0, 3300, 3540)]
    assert states == [TokenState.FRESH, TokenState.STALE, TokenState.INVALID]


def test_refresh_on_later_than_mandatory_window_is_clamped():
    """A refresh_on hint beyond the mandatory threshold cannot postpone the refresh past it."""
    snapshot = POLICY.snapshot("t", T0 + 3600, obtained_at=T0, refresh_on=T0 + 7200)
    assert snapshot.refresh_at == snapshot.must_refresh_at == T0 + 3540


def test_snapshot_repr_hides_the_token():
    """The repr of a snapshot never shows the token."""
    snapshot = POLICY.snapshot("secret-token-value", T0 + 3600, obtained_at=T0)
    assert "secret-token-value" not in repr(snapshot)


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (20, 30.0)],
)
def test_backoff_doubles_up_to_the_ceiling(failures, expected):
    """Back-off doubles per failure in a row and stops at backoff_max."""
    assert POLICY.backoff(failures, HOUR) == expected


def test_backoff_fits_several_attempts_in_a_short_advisory_window():
    """For a 2-s token, back-off never exceeds a quarter of the advisory-to-mandatory span."""
    assert POLICY.backoff(10, TWO_SECONDS) == pytest.approx(0.2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"advisory_window": 10, "mandatory_window": 20},
        {"mandatory_window": -1},
        {"backoff_base": 0},
        {"backoff_base": 10, "backoff_max": 5},
    ],
)
def test_inconsistent_policy_is_rejected(kwargs):
    """A policy whose windows or back-off contradict each other is refused."""
    with pytest.raises(ValueError, match="RefreshPolicy needs"):
        RefreshPolicy(**kwargs)


@pytest.mark.parametrize(
    ("elapsed", "hold_until", "expected"),
    [
        (3545, T0 + 3550, Action.SERVE),
        (3550, T0 + 3550, Action.WAIT_FOR_REFRESH),
        (3600, T0 + 9999, Action.WAIT_FOR_REFRESH),
        (3300, T0 + 9999, Action.REFRESH_IN_BACKGROUND),
    ],
    ids=["held-in-mandatory", "hold-over", "hold-never-outlives-expiry", "hold-ignores-advisory"],
)
def test_hold_after_unchanged_token(elapsed, hold_until, expected):
    """After a credential hands back the same token, a still-valid one is held for a while."""
    assert decide(HOUR, T0 + elapsed, hold_until=hold_until) is expected
