"""Moved to :mod:`ccproxy.hooks` (below the pipeline, which emits the events); plugins import the
same names from :mod:`ccproxy.plugins`. Kept so older imports of this module still work."""

from ccproxy.hooks import HOOK_EVENT_DOCS, Hook, HookContext, HookEvent, HookManager

__all__ = ["HOOK_EVENT_DOCS", "Hook", "HookContext", "HookEvent", "HookManager"]
