"""Premium requests: what a provider that bills them (GitHub Copilot) tags on each record.

Such a provider sets ``record.tags["initiator"]`` to ``user`` (a request a person made: billed)
or ``agent`` (a tool-call follow-up: not billed again), and ``record.tags["premium_multiplier"]``
to the model's multiplier (``"1"``, ``"0.33"``, ``"10"``, ``"0"``) when its catalogue states one.
A served (status < 400) ``user`` request costs ``multiplier`` premium units (1 when none is
stated). The metrics plugin reads only these tags: it never imports the provider.

The quota half reads the body of ``GET /oauth/copilot/status`` (the same dict as the
``oauth_copilot`` runtime's ``status()`` in-process), whose ``usage.accounts`` holds each
account's plan and quotas as that plugin last read them from GitHub: :func:`quota_lines` says it
in words for ``ccproxy usage``, :func:`quota_windows` shapes it as the dashboard's windows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

__all__ = [
    "INITIATOR_TAG",
    "MULTIPLIER_TAG",
    "QUOTA_PLUGIN",
    "QUOTA_STATUS_PATH",
    "QUOTA_WINDOW",
    "PremiumUse",
    "premium_use",
    "quota_lines",
    "quota_windows",
]

#: The record tag naming who started a request: ``user`` or ``agent``.
INITIATOR_TAG: Final = "initiator"
#: The record tag with the model's premium-request multiplier, a decimal string.
MULTIPLIER_TAG: Final = "premium_multiplier"
#: Where the running server answers the Copilot accounts' plan and quota, and who serves it.
QUOTA_STATUS_PATH: Final = "/oauth/copilot/status"
QUOTA_PLUGIN: Final = "oauth_copilot"
#: The ``window`` name of a Copilot account's premium-request quota on the dashboard.
QUOTA_WINDOW: Final = "premium requests"
_USER: Final = "user"
_ONE: Final = Decimal(1)


@dataclass(frozen=True, slots=True)
class PremiumUse:
    """A request's premium use: ``initiator`` as tagged, ``billed`` when it counts as a premium
    request, ``units`` what it costs of the quota (0 when not billed)."""

    initiator: str
    billed: bool
    units: Decimal


def premium_use(tags: Mapping[str, str], status_code: int) -> PremiumUse | None:
    """The premium use of a request with ``tags`` that ended with ``status_code``; ``None`` when
    its provider does not tag an initiator (it bills no premium requests)."""
    initiator = tags.get(INITIATOR_TAG)
    if not initiator:
        return None
    billed = initiator == _USER and status_code < 400
    units = _multiplier(tags.get(MULTIPLIER_TAG)) if billed else Decimal(0)
    return PremiumUse(initiator=initiator, billed=billed, units=units)


def _multiplier(text: str | None) -> Decimal:
    """The stated multiplier; 1 when none is stated or it is not a finite, non-negative number."""
    if text is None:
        return _ONE
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return _ONE
    return value if value.is_finite() and value >= 0 else _ONE


def _accounts(status: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    usage = status.get("usage")
    accounts = usage.get("accounts") if isinstance(usage, Mapping) else None
    if not isinstance(accounts, Mapping):
        return
    for name, entry in sorted(accounts.items()):
        if isinstance(entry, Mapping):
            yield str(name), entry


def _premium_quota(entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
    quotas = entry.get("quotas")
    quota = quotas.get("premium_requests") if isinstance(quotas, Mapping) else None
    return quota if isinstance(quota, Mapping) else None


def quota_lines(status: Mapping[str, Any]) -> list[str]:
    """One line per account of a ``GET /oauth/copilot/status`` body:
    ``Copilot account NAME (USER): premium requests: N of M left, resets on DATE``
    (``unlimited`` on plans without a quota); an account whose quota could not be read says why.
    Empty when the body holds no account."""
    lines = []
    for name, entry in _accounts(status):
        label = f"Copilot account {name}" + (f" ({entry['user']})" if entry.get("user") else "")
        if entry.get("error"):
            lines.append(f"{label}: premium requests unknown ({entry['error']})")
            continue
        quota = _premium_quota(entry)
        if quota is None:
            lines.append(f"{label}: premium requests unknown (the plan states no quota)")
            continue
        if quota.get("unlimited"):
            lines.append(f"{label}: premium requests: unlimited")
            continue
        text = f"{_amount(quota.get('remaining'))} of {_amount(quota.get('entitlement'))} left"
        reset = entry.get("quota_reset_date")
        if isinstance(reset, str) and reset:
            text += f", resets on {reset}"
        lines.append(f"{label}: premium requests: {text}")
    return lines


def _amount(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "?"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def quota_windows(status: Mapping[str, Any], *, provider: str, now: float) -> list[dict[str, Any]]:
    """Each account's premium-request quota as a dashboard window (``window`` is
    :data:`QUOTA_WINDOW`) with ``remaining``, ``entitlement`` and ``unlimited`` besides the
    share used and the reset; accounts whose quota is unknown are left out."""
    windows = []
    for name, entry in _accounts(status):
        quota = _premium_quota(entry)
        if quota is None or entry.get("error"):
            continue
        unlimited = bool(quota.get("unlimited"))
        remaining, entitlement = _number(quota.get("remaining")), _number(quota.get("entitlement"))
        used = None
        if not unlimited and remaining is not None and entitlement:
            used = min(1.0, max(0.0, 1 - remaining / entitlement))
        reset = _reset(entry.get("quota_reset_date"))
        windows.append(
            {
                "provider": provider,
                "account": name,
                "window": QUOTA_WINDOW,
                "used_ratio": used,
                "reset_at": None if reset is None else reset.isoformat(),
                "resets_in_s": None if reset is None else max(0.0, reset.timestamp() - now),
                "remaining": None if unlimited else remaining,
                "entitlement": None if unlimited else entitlement,
                "unlimited": unlimited,
            }
        )
    return windows


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _reset(text: object) -> datetime | None:
    """GitHub's ``quota_reset_date`` (``2027-01-01``, or a full time) as a UTC time."""
    if not isinstance(text, str) or not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
