"""Immutable token snapshots and the refresh decision, as pure functions of (token, now).

Nothing here does I/O or reads a clock: the provider passes ``now`` in, so every rule can be
pinned by a table of cases.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "Action",
    "RefreshPolicy",
    "TokenSnapshot",
    "TokenState",
    "decide",
]


class TokenState(enum.Enum):
    """How usable a cached token is at a given moment (the google-auth vocabulary)."""

    FRESH = "fresh"
    """Outside every window: serve it."""
    STALE = "stale"
    """Inside the advisory window: serve it, and let one caller refresh in the background."""
    INVALID = "invalid"
    """Missing, expired, inside the mandatory window, or shorter-lived than asked: wait."""


class Action(enum.Enum):
    """What a caller does, given the token state and the back-off."""

    SERVE = "serve"
    REFRESH_IN_BACKGROUND = "refresh_in_background"
    WAIT_FOR_REFRESH = "wait_for_refresh"


@dataclass(frozen=True)
class RefreshPolicy:
    """The two refresh windows and the back-off after a failed advisory refresh.

    Windows shrink for short-lived tokens (at most half of the lifetime for the advisory
    window, a tenth for the mandatory one), so a 2-second test token is refreshed about once
    per lifetime while an hour-long production token keeps the full windows.

    Attributes:
        advisory_window: Seconds before expiry when one caller starts a background refresh
            while everyone keeps using the cached token (azure-core uses 300).
        mandatory_window: Seconds before expiry when callers stop using the cached token and
            wait for the refresh.
        backoff_base: First delay, in seconds, before retrying a failed advisory refresh.
        backoff_max: Ceiling of the exponential back-off, in seconds.
    """

    advisory_window: float = 300.0
    mandatory_window: float = 60.0
    backoff_base: float = 1.0
    backoff_max: float = 30.0

    def __post_init__(self) -> None:
        if self.mandatory_window < 0 or self.advisory_window < self.mandatory_window:
            raise ValueError(
                "RefreshPolicy needs 0 <= mandatory_window <= advisory_window; got "
                f"advisory_window={self.advisory_window}, "
                f"mandatory_window={self.mandatory_window}"
            )
        if self.backoff_base <= 0 or self.backoff_max < self.backoff_base:
            raise ValueError("RefreshPolicy needs 0 < backoff_base <= backoff_max")

    def snapshot(
        self,
        token: str,
        expires_on: float,
        obtained_at: float,
        refresh_on: float | None = None,
    ) -> TokenSnapshot:
        """Builds the snapshot of a token just obtained, with its refresh thresholds fixed.

        Args:
            token: The bearer token.
            expires_on: Expiry, epoch seconds.
            obtained_at: When it was obtained (the provider's clock), epoch seconds.
            refresh_on: The credential's own hint (``AccessTokenInfo.refresh_on``), if any.
        """
        lifetime = max(expires_on - obtained_at, 0.0)
        advisory = min(self.advisory_window, lifetime / 2)
        mandatory = min(self.mandatory_window, lifetime / 10)
        must_refresh_at = expires_on - mandatory
        refresh_at = refresh_on if refresh_on is not None else expires_on - advisory
        return TokenSnapshot(
            token=token,
            expires_on=float(expires_on),
            refresh_on=refresh_on,
            obtained_at=obtained_at,
            refresh_at=min(refresh_at, must_refresh_at),
            must_refresh_at=must_refresh_at,
        )

    def backoff(self, failures: int, snapshot: TokenSnapshot | None) -> float:
        """Seconds to wait before the next advisory attempt after ``failures`` in a row.

        Exponential from ``backoff_base`` up to ``backoff_max``, and never more than a quarter
        of the advisory window, so several attempts fit before the mandatory window begins.
        """
        delay = min(self.backoff_base * 2.0 ** max(failures - 1, 0), self.backoff_max)
        if snapshot is not None:
            window = snapshot.must_refresh_at - snapshot.refresh_at
            if window > 0:
                delay = min(delay, window / 4)
        return delay


@dataclass(frozen=True)
class TokenSnapshot:
    """One token with its expiry and refresh thresholds, read and replaced as a whole.

    Attributes:
        token: The bearer token (never shown by ``repr``).
        expires_on: Expiry, epoch seconds.
        refresh_on: The credential's refresh hint, epoch seconds, if it gave one.
        obtained_at: When the provider obtained it, by the provider's clock.
        refresh_at: Start of the advisory window.
        must_refresh_at: Start of the mandatory window.
    """

    token: str = field(repr=False)
    expires_on: float
    refresh_on: float | None
    obtained_at: float
    refresh_at: float
    must_refresh_at: float

    def remaining(self, now: float) -> float:
        """Seconds of validity left at ``now`` (negative once expired)."""
        return self.expires_on - now

    def state(self, now: float, min_lifetime: float = 0.0) -> TokenState:
        """Classifies the token at ``now`` for a caller that needs ``min_lifetime`` seconds."""
        if now >= self.must_refresh_at or self.expires_on - now < min_lifetime:
            return TokenState.INVALID
        if now >= self.refresh_at:
            return TokenState.STALE
        return TokenState.FRESH


def decide(
    snapshot: TokenSnapshot | None,
    now: float,
    *,
    min_lifetime: float = 0.0,
    retry_at: float = 0.0,
    hold_until: float = 0.0,
) -> Action:
    """Decides what a caller does with the cached token.

    Args:
        snapshot: The cached token, or ``None`` on a cold start.
        now: The provider's clock.
        min_lifetime: Seconds the caller needs the token to stay valid.
        retry_at: Earliest time for another advisory attempt after a failure (back-off).
        hold_until: Until then, a token inside its mandatory window but still valid is served
            without asking the credential again: it just handed that same token back.

    Returns:
        ``WAIT_FOR_REFRESH`` when there is no usable token, ``REFRESH_IN_BACKGROUND`` when
        the token is stale and the back-off has passed, otherwise ``SERVE``.
    """
    if (
        snapshot is None
        or snapshot.expires_on - now < max(min_lifetime, 0.0)
        or (now >= snapshot.expires_on)
    ):
        return Action.WAIT_FOR_REFRESH
    if now >= snapshot.must_refresh_at:
        return Action.WAIT_FOR_REFRESH if now >= hold_until else Action.SERVE
    if now >= snapshot.refresh_at:
        return Action.REFRESH_IN_BACKGROUND if now >= retry_at else Action.SERVE
    return Action.SERVE
