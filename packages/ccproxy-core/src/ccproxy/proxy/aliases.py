"""Model aliases: which upstream model serves the name a client asked for."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["AliasResolution", "ModelAliases", "UnknownModelError"]


class UnknownModelError(ValueError):
    """A name from another model family with no alias and no ``default_model`` configured."""


@dataclass(frozen=True)
class AliasResolution:
    """The outcome: the model to send upstream and whether an alias (or default) changed it."""

    client_model: str
    upstream_model: str
    rule: str | None

    @property
    def aliased(self) -> bool:
        """Whether the upstream sees a different name than the client sent."""
        return self.upstream_model != self.client_model


class ModelAliases:
    """Exact names and ``prefix*`` patterns mapping client names to upstream models.

    An exact key beats a prefix; the longest matching prefix wins. A name no rule matches passes
    through when ``is_native`` says it belongs to this provider's family; otherwise it goes to
    ``default_model``, and with none configured it is an ``UnknownModelError`` naming the setting.
    """

    def __init__(
        self,
        table: Mapping[str, str],
        *,
        provider: str,
        is_native: Callable[[str], bool],
        default_model: str | None = None,
    ) -> None:
        self._exact = {k: v for k, v in table.items() if not k.endswith("*")}
        self._prefixes = sorted(
            ((k[:-1], v) for k, v in table.items() if k.endswith("*")),
            key=lambda kv: len(kv[0]),
            reverse=True,
        )
        self._provider = provider
        self._is_native = is_native
        self.default_model = default_model
        self.table = dict(table)

    def resolve(self, model: str) -> AliasResolution:
        """The upstream model for ``model``."""
        target = self._exact.get(model)
        if target is not None:
            return AliasResolution(model, target, model)
        for prefix, target in self._prefixes:
            if model.startswith(prefix):
                return AliasResolution(model, target, f"{prefix}*")
        if self._is_native(model):
            return AliasResolution(model, model, None)
        if self.default_model:
            return AliasResolution(model, self.default_model, "default_model")
        raise UnknownModelError(
            f"Model {model!r} is not served by {self._provider!r}: add an alias under "
            f"plugins.{self._provider}.model_aliases or set plugins.{self._provider}.default_model."
        )

    def listed_models(self) -> list[str]:
        """Client-visible names: exact aliases plus their targets, sorted."""
        names = set(self._exact) | set(self._exact.values()) | {v for _, v in self._prefixes}
        if self.default_model:
            names.add(self.default_model)
        return sorted(names)
