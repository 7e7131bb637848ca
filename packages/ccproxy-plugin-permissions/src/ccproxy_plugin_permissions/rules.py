"""Rules: decide a tool call from its name and input before anyone is asked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from ccproxy_plugin_permissions.config import Rule

__all__ = ["RuleMatch", "match_rules"]


@dataclass(frozen=True)
class RuleMatch:
    """The rule that decided, and its position (0-based) in the configured list."""

    index: int
    rule: Rule

    def describe(self) -> str:
        """A short human description, used in deny messages and logs."""
        rule = self.rule
        target = f" {rule.field}={rule.match!r}" if rule.field is not None else ""
        return f"rule #{self.index + 1} ({rule.action} {rule.tool!r}{target})"


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def match_rules(rules: list[Rule], tool_name: str, tool_input: dict[str, Any]) -> RuleMatch | None:
    """The first rule matching the call; ``None`` means a person must decide."""
    for index, rule in enumerate(rules):
        if not fnmatchcase(tool_name, rule.tool):
            continue
        if rule.field is not None:
            if rule.field not in tool_input:
                continue
            if not fnmatchcase(_value_text(tool_input[rule.field]), rule.match):
                continue
        return RuleMatch(index, rule)
    return None
