"""mkdocs hook: the API reference publishes the pages of the modules in ``API_MODULES`` only.

Each public module of ccproxy-core has one page, ``docs/api/<module>.md``, and one entry in the
mkdocs.yml nav. A page whose module is not listed below is held back: left out of the build and
of the nav, and links to it from other pages are shown as plain text. A held-back page whose
module can be imported stops the build, so the list cannot fall behind the code.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

# ---------------------------------------------------------------------------------------------
# THE PUBLIC API MODULES WHOSE REFERENCE PAGE IS BUILT. Add a module here once it exists on the
# branch (its page, docs/api/<module>.md, and its nav entry are already written).
# Not yet here, pending their code: "ccproxy.plugins.provider", "ccproxy.plugins.cli".
API_MODULES: tuple[str, ...] = (
    "ccproxy",
    "ccproxy.plugins",
    "ccproxy.plugins.provider",
    "ccproxy.plugins.cli",
    "ccproxy.auth",
    "ccproxy.testing",
)
# ---------------------------------------------------------------------------------------------

API_DIR = "api"
_log = logging.getLogger("mkdocs.hooks.api_pages")
_LINK = re.compile(r"\[(?P<text>[^\]]+)\]\((?P<target>[^)\s]+?\.md)(?P<anchor>#[^)\s]*)?\)")
_held_back: set[str] = set()


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _strip_nav(nav: Any, held_back: set[str]) -> Any:
    """The nav without the entries of held-back pages (and without sections left empty)."""
    if isinstance(nav, list):
        kept = [_strip_nav(item, held_back) for item in nav]
        return [item for item in kept if item not in (None, [], {})]
    if isinstance(nav, dict):
        kept = {title: _strip_nav(value, held_back) for title, value in nav.items()}
        return {title: value for title, value in kept.items() if value not in (None, [], {})}
    if isinstance(nav, str) and nav in held_back:
        return None
    return nav


def on_config(config: Any) -> Any:
    pages = {p.stem: p for p in (Path(config.docs_dir) / API_DIR).glob("*.md") if p.stem != "index"}
    missing = [m for m in API_MODULES if m not in pages]
    if missing:
        raise PluginError(f"API_MODULES lists modules without a page in docs/{API_DIR}: {missing}")
    _held_back.clear()
    for module in sorted(set(pages) - set(API_MODULES)):
        if _importable(module):
            raise PluginError(
                f"{module} exists now: add it to API_MODULES in tools/docs/api_pages.py "
                f"so that docs/{API_DIR}/{module}.md is built"
            )
        _held_back.add(f"{API_DIR}/{module}.md")
        _log.info("API page held back, its module is not on this branch yet: %s", module)
    if config.nav is not None:
        config.nav = _strip_nav(config.nav, _held_back)
    return config


def on_files(files: Any, config: Any) -> Any:
    for path in _held_back:
        file = files.get_file_from_path(path)
        if file is not None:
            files.remove(file)
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Links to a held-back page become their text: the page will exist, the link not yet."""
    if not _held_back:
        return markdown
    names = {Path(path).name for path in _held_back}

    def unlink(match: re.Match[str]) -> str:
        held = Path(match["target"]).name in names
        return match["text"] if held else match[0]

    return _LINK.sub(unlink, markdown)
