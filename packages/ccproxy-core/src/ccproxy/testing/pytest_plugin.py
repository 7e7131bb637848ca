"""The pytest plugin every ccproxy test run loads (``-p ccproxy.testing.pytest_plugin``).

- Installs the loopback-only network guard (:mod:`ccproxy.testing.network`) for the whole run
  and fails any test phase (setup, call, teardown) during which a connection or lookup outside
  loopback was refused, even when the code under test swallowed the error. There is no opt-out.
- Loads a Hypothesis profile when Hypothesis is installed: ``ci`` (bounded and derandomized)
  when the ``CI`` environment variable is set, ``dev`` otherwise. ``--hypothesis-profile``
  still wins.
- Points ``XDG_CONFIG_HOME`` at an empty folder of each test (``isolated_config_home``), so no
  test reads the developer's own ``config.toml`` or account files; a test sets its own freely.
- Provides ``redis_url``: a real ``redis-server`` for the session (tests isolate themselves with
  their own key prefix). Without the binary the tests that use it are skipped with the reason,
  except under CI, where the check command installs it and its absence is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator

import pytest

from ccproxy.testing.network import (
    install_network_guard,
    take_network_violations,
    uninstall_network_guard,
)

__all__ = ["hypothesis_profile_name", "isolated_config_home", "redis_url"]

_profile_key = pytest.StashKey[str | None]()


def hypothesis_profile_name() -> str:
    """``ci`` when the ``CI`` environment variable is set (and not ``0``/``false``), else ``dev``."""
    value = os.environ.get("CI", "").strip().lower()
    return "ci" if value not in ("", "0", "false", "no") else "dev"


def _load_hypothesis_profile() -> str | None:
    try:
        from hypothesis import HealthCheck, settings  # optional dependency
    except ImportError:
        return None
    settings.register_profile(
        "ci",
        max_examples=100,
        deadline=None,  # shared 2-core runners make timings noise, not signal
        derandomize=True,  # the same examples on every run: a red CI run reproduces locally
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile("dev", deadline=None, print_blob=True)
    name = hypothesis_profile_name()
    settings.load_profile(name)
    return name


@pytest.hookimpl(tryfirst=True)  # before Hypothesis' own plugin applies --hypothesis-profile
def pytest_configure(config: pytest.Config) -> None:
    config.stash[_profile_key] = _load_hypothesis_profile()
    install_network_guard()


@pytest.fixture(autouse=True)
def isolated_config_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> str:
    """``XDG_CONFIG_HOME`` of this test: a new empty folder (returned)."""
    folder = str(tmp_path_factory.mktemp("config-home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", folder)
    return folder


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The ``redis://`` URL of a ``redis-server`` started for this test session."""
    from ccproxy.testing.redis import RedisUnavailable, redis_server

    try:
        with redis_server() as url:
            yield url
    except RedisUnavailable as exc:
        if hypothesis_profile_name() == "ci":
            pytest.fail(f"{exc}; ./scripts/check installs it", pytrace=False)
        pytest.skip(str(exc))


def pytest_unconfigure(config: pytest.Config) -> None:
    uninstall_network_guard()


def pytest_report_header(config: pytest.Config) -> list[str]:
    profile = config.stash.get(_profile_key, None)
    lines = ["ccproxy: network guard on (loopback only)"]
    if profile is not None:
        lines.append(f"ccproxy: hypothesis profile {profile!r}")
    return lines


def _fail_on_violations(when: str) -> None:
    violations = take_network_violations()
    if violations:
        listed = "\n".join(f"  - {v}" for v in violations)
        pytest.fail(
            f"network guard refused {len(violations)} attempt(s) during {when}:\n{listed}",
            pytrace=False,
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    _fail_on_violations("the previous test or collection")
    try:
        return (yield)
    finally:
        _fail_on_violations("setup")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        _fail_on_violations("the test")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        _fail_on_violations("teardown")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    violations = take_network_violations()
    if violations:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "network guard", red=True)
            for violation in violations:
                reporter.write_line(f"refused outside any test: {violation}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
