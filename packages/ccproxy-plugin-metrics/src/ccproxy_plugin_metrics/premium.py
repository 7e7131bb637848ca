"""Premium requests: what a provider that bills them (GitHub Copilot) tags on each record.

Such a provider sets ``record.tags["initiator"]`` to ``user`` (a request a person made: billed)
or ``agent`` (a tool-call follow-up: not billed again), and ``record.tags["premium_multiplier"]``
to the model's multiplier (``"1"``, ``"0.33"``, ``"10"``, ``"0"``) when its catalogue states one.
A served (status < 400) ``user`` request costs ``multiplier`` premium units (1 when none is
stated). The metrics plugin reads only these tags: it never imports the provider.

The quota half (:func:`quota_lines`) reads the body of ``GET /oauth/copilot/status``, whose
``usage.accounts`` holds each account's plan and quotas as the ``oauth_copilot`` plugin last read
them from GitHub.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

__all__ = [
    "INITIATOR_TAG",
    "MULTIPLIER_TAG",
    "QUOTA_PLUGIN",
    "QUOTA_STATUS_PATH",
    "PremiumUse",
    "premium_use",
    "quota_lines",
]

#: The record tag naming who started a request: ``user`` or ``agent``.
INITIATOR_TAG: Final = "initiator"
#: The record tag with the model's premium-request multiplier, a decimal string.
MULTIPLIER_TAG: Final = "premium_multiplier"
#: Where the running server answers the Copilot accounts' plan and quota, and who serves it.
QUOTA_STATUS_PATH: Final = "/oauth/copilot/status"
QUOTA_PLUGIN: Final = "oauth_copilot"
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


def quota_lines(status: Mapping[str, Any]) -> list[str]:
    """One line per account of a ``GET /oauth/copilot/status`` body:
    ``copilot/NAME premium requests: N of M left, resets on DATE`` (``unlimited`` on plans
    without a quota); an account whose quota could not be read says why. Empty when the body
    holds no account."""
    usage = status.get("usage")
    accounts = usage.get("accounts") if isinstance(usage, Mapping) else None
    if not isinstance(accounts, Mapping):
        return []
    lines = []
    for name, entry in sorted(accounts.items()):
        if not isinstance(entry, Mapping):
            continue
        label = f"Copilot account {name}" + (f" ({entry['user']})" if entry.get("user") else "")
        if entry.get("error"):
            lines.append(f"{label}: premium requests unknown ({entry['error']})")
            continue
        quotas = entry.get("quotas")
        quota = quotas.get("premium_requests") if isinstance(quotas, Mapping) else None
        if not isinstance(quota, Mapping):
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
