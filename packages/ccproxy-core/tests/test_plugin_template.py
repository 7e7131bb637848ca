"""``ccproxy plugins new``: the generated packages install, pass their own tests and are found.

One fresh venv (``uv venv``) holds this checkout's core and one generated package of each type;
each package's tests run with that venv's pytest, then ``ccproxy plugins list --json`` and a real
``ccproxy serve`` on a loopback port must both report the three plugins.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from ccproxy.cli.main import app
from ccproxy.cli.new_plugin import (
    InstallEnvironment,
    core_range,
    create_plugin,
    find_workspace_root,
    next_steps,
)
from ccproxy.testing import free_port

CORE = Path(__file__).resolve().parents[1]
TYPES = {"tpl_system": "system", "tpl_provider": "provider", "tpl_auth": "auth_provider"}


def _new(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["plugins", "new", *args])
    return result.exit_code, result.output


def _isolated_env(home: Path, venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLUGINS__", "CCPROXY_"))}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".state"),
        XDG_DATA_HOME=str(home / ".data"),
        VIRTUAL_ENV=str(venv),
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        PLUGINS_DISABLE_LOCAL_DISCOVERY="true",
    )
    env.pop("PYTHONPATH", None)
    return env


def _run(args: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    done = subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_invalid_names_are_refused(tmp_path: Path) -> None:
    for bad in ("Bad", "1abc", "with-dash", "_x", ""):
        code, output = _new(bad, "--dest", str(tmp_path))
        assert code == 1, (bad, output)
        assert "invalid plugin name" in output
    assert list(tmp_path.iterdir()) == []


def test_an_existing_directory_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "ccproxy-plugin-taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")

    code, output = _new("taken", "--dest", str(tmp_path))

    assert code == 1
    assert "already exists" in output
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


#: Core's public modules (test_public_api.PUBLIC_MODULES); generated code imports nothing else.
PUBLIC_MODULES = frozenset(
    {
        "ccproxy",
        "ccproxy.plugins",
        "ccproxy.plugins.provider",
        "ccproxy.plugins.cli",
        "ccproxy.auth",
        "ccproxy.testing",
    }
)


def _core_imports(source: str) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return {m for m in modules if m == "ccproxy" or m.startswith("ccproxy.")}


@pytest.mark.parametrize("kind", sorted(set(TYPES.values())))
def test_generated_code_imports_only_core_public_modules(tmp_path: Path, kind: str) -> None:
    code, output = _new("tpl_public", "--type", kind, "--dest", str(tmp_path))
    assert code == 0, output
    sources = sorted((tmp_path / "ccproxy-plugin-tpl-public").rglob("*.py"))
    assert len(sources) >= 3  # the plugin, its package and its test
    imported = set().union(*(_core_imports(path.read_text()) for path in sources))
    assert imported, "the generated plugin does not use core at all?"
    assert imported <= PUBLIC_MODULES, imported - PUBLIC_MODULES


def test_workspace_sources_only_inside_a_ccproxy_workspace(tmp_path: Path) -> None:
    assert find_workspace_root(tmp_path) is None
    workspace = tmp_path / "ws"
    (workspace / "packages" / "ccproxy-core").mkdir(parents=True)
    (workspace / "pyproject.toml").write_text('[tool.uv.workspace]\nmembers = ["packages/*"]\n')

    assert _new("inside", "--dest", str(workspace / "packages"))[0] == 0
    assert _new("outside", "--dest", str(tmp_path))[0] == 0

    inside = (workspace / "packages" / "ccproxy-plugin-inside" / "pyproject.toml").read_text()
    outside = (tmp_path / "ccproxy-plugin-outside" / "pyproject.toml").read_text()
    assert "ccproxy-core = { workspace = true }" in inside
    assert "[tool.uv.sources]" not in outside
    assert f'"ccproxy-core{core_range()}"' in outside
    assert core_range("1.7.2") == ">=1.7,<2"


def test_generated_packages_install_pass_their_tests_and_are_discovered(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH: this test builds a venv with 'uv venv'")
    packages = tmp_path / "out"
    for name, plugin_type in TYPES.items():
        code, output = _new(name, "--type", plugin_type, "--dest", str(packages))
        assert code == 0, output
    dirs = {name: packages / f"ccproxy-plugin-{name.replace('_', '-')}" for name in TYPES}
    for name, path in dirs.items():
        import_name = f"ccproxy_plugin_{name}"
        for part in (
            "pyproject.toml",
            "README.md",
            "CHANGELOG.md",
            f"src/{import_name}/__init__.py",
            f"src/{import_name}/_version.py",
            f"src/{import_name}/py.typed",
            f"src/{import_name}/plugin.py",
            "tests/test_plugin.py",
        ):
            assert (path / part).is_file(), part

    venv = tmp_path / "venv"
    home = tmp_path / "home"
    home.mkdir()
    env = _isolated_env(home, venv)
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], env=env, cwd=tmp_path)
    python = str(venv / "bin" / "python")
    _run(
        [uv, "pip", "install", "--quiet", "--python", python, str(CORE)]
        + [str(path) for path in dirs.values()]
        + ["pytest>=8.3", "pytest-asyncio>=0.25", "pytest-timeout>=2.3"],
        env=env,
        cwd=tmp_path,
        timeout=300,
    )

    for path in dirs.values():
        output = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], env=env, cwd=path)
        assert " passed" in output and "failed" not in output, output

    listed = json.loads(
        _run([python, "-m", "ccproxy", "plugins", "list", "--json"], env=env, cwd=home)
    )
    by_name = {plugin["name"]: plugin for plugin in listed["plugins"]}
    for name, plugin_type in TYPES.items():
        assert by_name[name]["type"] == plugin_type, by_name.get(name)
        assert by_name[name]["enabled"] is True

    port = free_port()
    server = subprocess.Popen(
        [python, "-m", "ccproxy", "serve", "--port", str(port)],
        env=env,
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"ccproxy serve did not become healthy:\n{server.communicate()[1]}")
            time.sleep(0.1)
        status = httpx.get(f"{base}/api/plugins/status", timeout=5).json()
        hello = httpx.get(f"{base}/tpl_system/hello", timeout=5)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
    running = {plugin["name"]: plugin for plugin in status["plugins"]}
    for name, plugin_type in TYPES.items():
        assert running[name]["type"] == plugin_type
        assert running[name]["status"] == "initialized"
    assert hello.json() == {"message": "hello from tpl_system"}


def test_generated_package_releases_on_its_own(tmp_path: Path) -> None:
    import tomllib

    result = CliRunner().invoke(app, ["plugins", "new", "release_me", "--dest", str(tmp_path)])
    assert result.exit_code == 0, result.output
    pyproject = tomllib.loads(
        (tmp_path / "ccproxy-plugin-release-me" / "pyproject.toml").read_text()
    )
    release = pyproject["tool"]["semantic_release"]
    assert release["tag_format"] == "ccproxy-plugin-release-me-v{version}"
    assert release["commit_parser"] == "conventional-monorepo"
    assert release["version_variables"] == ["src/ccproxy_plugin_release_me/_version.py:__version__"]
    assert release["commit_parser_options"]["path_filters"] == ["."]
    assert pyproject["tool"]["ccproxy"]["api"]["modules"] == ["ccproxy_plugin_release_me"]


# --- --dest and the printed next steps ----------------------------------------------------------


def test_dest_is_the_parent_folder_as_the_help_says(tmp_path: Path) -> None:
    help_text = CliRunner().invoke(app, ["plugins", "new", "--help"], env={"COLUMNS": "200"})
    flat = " ".join(help_text.output.split())
    assert "--dest DIR The parent folder: the package is written to DIR/ccproxy-plugin-NAME" in flat
    code, output = _new("placed", "--dest", str(tmp_path / "parent"))
    assert code == 0, output
    assert (tmp_path / "parent" / "ccproxy-plugin-placed" / "pyproject.toml").is_file()


def test_next_steps_use_the_running_interpreter_never_a_bare_pip(tmp_path: Path) -> None:
    # This test process runs in uv's workspace venv, which has no pip.
    code, output = _new("steps", "--dest", str(tmp_path))
    assert code == 0, output
    lines = output.splitlines()
    assert not any(line.split(":", 1)[-1].strip().startswith("pip ") for line in lines)
    expected = "uv pip install" if shutil.which("uv") else f"{sys.executable} -m pip install"
    next_line = next(line for line in lines if line.startswith("Next: "))
    assert next_line.startswith(f"Next: {expected}")
    assert f"-e {tmp_path / 'ccproxy-plugin-steps'}" in next_line


def _environment(**overrides: object) -> InstallEnvironment:
    values: dict[str, object] = {
        "python": "/opt/env/bin/python",
        "has_pip": True,
        "uv": None,
        "ccproxy": "ccproxy",
    }
    values.update(overrides)
    return InstallEnvironment(**values)  # type: ignore[arg-type]


def _steps(tmp_path: Path, environment: InstallEnvironment) -> str:
    package = create_plugin("shown", dest=tmp_path)
    return "\n".join(next_steps(package, "./ccproxy-plugin-shown", environment))


def test_next_steps_in_a_venv_with_pip(tmp_path: Path) -> None:
    text = _steps(tmp_path, _environment(uv="/usr/bin/uv"))
    assert "Next: /opt/env/bin/python -m pip install -e ./ccproxy-plugin-shown" in text
    assert "      ccproxy plugins list" in text
    assert "/opt/env/bin/python -m pip install 'pytest>=8.3'" in text
    assert "cd ./ccproxy-plugin-shown && /opt/env/bin/python -m pytest" in text


def test_next_steps_in_a_uv_venv_without_pip(tmp_path: Path) -> None:
    env = _environment(has_pip=False, uv="/usr/bin/uv", ccproxy="/opt/env/bin/ccproxy")
    text = _steps(tmp_path, env)
    assert "Next: uv pip install --python /opt/env/bin/python -e ./ccproxy-plugin-shown" in text
    assert "      /opt/env/bin/ccproxy plugins list" in text


def test_next_steps_without_pip_or_uv_add_pip_first(tmp_path: Path) -> None:
    text = _steps(tmp_path, _environment(has_pip=False))
    assert text.startswith("This Python has no pip; add it first: /opt/env/bin/python -m ensurepip")
    assert "Next: /opt/env/bin/python -m pip install -e" in text


def test_next_steps_in_the_workspace_sync_it(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "packages" / "ccproxy-core").mkdir(parents=True)
    (workspace / "pyproject.toml").write_text('[tool.uv.workspace]\nmembers = ["packages/*"]\n')
    package = create_plugin("member", dest=workspace / "packages")
    text = "\n".join(
        next_steps(package, "./packages/ccproxy-plugin-member", _environment(uv="/usr/bin/uv"))
    )
    assert f"Next: uv sync --all-packages   (in {workspace}; it joined the workspace)" in text
    assert "uv run ccproxy plugins list" in text
    assert "Its tests: uv run pytest ./packages/ccproxy-plugin-member" in text
