"""The ``ccproxy`` CLI: fast --version, serve with config precedence, plugins, config, plugin commands.

In-process tests use typer's CliRunner; anything that binds a port, needs a fresh interpreter or
needs a fake installed distribution runs ``python -m ccproxy`` in a subprocess with an explicit
environment (HOME and XDG_CONFIG_HOME in tmp_path), so the developer's own config never leaks in.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from ccproxy import __version__
from ccproxy.cli.main import app
from ccproxy.cli.plugin_commands import COMMANDS_GROUP
from ccproxy.cli.serve import is_loopback_host
from ccproxy.config import Settings
from ccproxy.testing.network import free_port

HEAVY_MODULES = ["fastapi", "starlette", "httpx", "uvicorn", "pydantic_settings", "pydantic"]
PLUGIN_PACKAGE_PREFIX = "ccproxy_plugin"
INSTALLED_PLUGINS = sorted(ep.name for ep in metadata.entry_points(group="ccproxy.plugins"))
SERVER_START_TIMEOUT = 15.0

PROBE_PLUGIN = """
from fastapi import APIRouter
from pydantic import BaseModel, Field, SecretStr

from ccproxy.plugins import PluginManifest, SystemPluginFactory


class ProbeConfig(BaseModel):
    value: str = Field("default", description="Reported by GET /probe/config.")
    number: int = 1
    label: str = "default"
    api_token: SecretStr | None = Field(None, description="A secret the CLI must mask.")


class ProbeFactory(SystemPluginFactory):
    def __init__(self) -> None:
        super().__init__(
            PluginManifest(name="probe", version="0.3.0", description="test probe", config_class=ProbeConfig)
        )

    def create_context(self, core_services):
        context = super().create_context(core_services)
        config, settings = context.config, context.settings
        router = APIRouter()

        @router.get("/config")
        async def show() -> dict:
            return {
                "plugin": config.model_dump(mode="json", exclude={"api_token"}),
                "core": {
                    "port": settings.server.port,
                    "max_request_body_bytes": settings.server.max_request_body_bytes,
                    "read_timeout_seconds": settings.http.read_timeout_seconds,
                },
            }

        context["router"] = router
        return context


factory = ProbeFactory()
"""

FAKE_COMMANDS_MODULE = """
import os
import pathlib

import typer

pathlib.Path(os.environ["FAKE_CMDS_MARKER"]).write_text("imported")

app = typer.Typer()


@app.command()
def hello(name: str = "world") -> None:
    typer.echo(f"hello {name}")


auth_app = typer.Typer()


@auth_app.command()
def login(flag: bool = typer.Option(False, help="A provider-only option.")) -> None:
    typer.echo(f"fake login flag={flag}")


@auth_app.command()
def status() -> None:
    typer.echo("fake status")
"""


def _is_settings_variable(name: str) -> bool:
    return name.lower().split("__")[0] in Settings.model_fields or name == "CCPROXY_CONFIG"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """os.environ without ccproxy settings, with HOME and XDG_CONFIG_HOME inside tmp_path."""
    clean = {k: v for k, v in os.environ.items() if not _is_settings_variable(k)}
    clean.pop("PYTHONPATH", None)
    clean.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"))
    clean.update(COLUMNS="100", NO_COLOR="1", TERM="dumb")
    (tmp_path / "home").mkdir()
    return clean


@pytest.fixture
def isolated(tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The same isolation for in-process (CliRunner) runs; the working directory is tmp_path."""
    for name in list(os.environ):
        if _is_settings_variable(name):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", env["HOME"])
    monkeypatch.setenv("XDG_CONFIG_HOME", env["XDG_CONFIG_HOME"])
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_cli(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ccproxy", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def write_probe(root: Path) -> Path:
    folder = root / "plugins" / "probe"
    folder.mkdir(parents=True)
    (folder / "plugin.py").write_text(PROBE_PLUGIN)
    return folder


def write_fake_distribution(root: Path) -> Path:
    """A real (uninstalled) distribution ``fake-cmds``: dist-info plus module, for PYTHONPATH."""
    site = root / "site"
    dist_info = site / "fake_cmds-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-cmds\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(
        textwrap.dedent(
            f"""\
            [{COMMANDS_GROUP}]
            hello = fake_cmds:app
            broken = fake_cmds_missing:app
            auth.fake = fake_cmds:auth_app
            serve = fake_cmds:app
            """
        )
    )
    (site / "fake_cmds.py").write_text(FAKE_COMMANDS_MODULE)
    return site


@contextmanager
def serving(
    *args: str, env: dict[str, str], cwd: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``ccproxy serve ARGS`` in a subprocess (stderr to a file); terminated and waited for after."""
    log = cwd / f"serve-{time.monotonic_ns()}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "ccproxy", "serve", *args],
            env=env,
            cwd=cwd,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
    # Only after a passing body: SIGTERM is a graceful shutdown (uvicorn re-raises the signal).
    assert process.returncode in (0, -signal.SIGTERM), log.read_text()


def wait_for_health(process: subprocess.Popen[bytes], log: Path, port: int) -> httpx.Response:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"server did not answer /health within {SERVER_START_TIMEOUT}s:\n{log.read_text()}")


# --version, --help, python -m ccproxy


def test_version() -> None:
    code, out, _ = invoke("--version")
    assert code == 0
    assert out == f"ccproxy {__version__}\n"


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_import_no_heavy_module(
    flag: str, env: dict[str, str], tmp_path: Path
) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from ccproxy.cli.main import main
        try:
            main([{flag!r}])
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
        heavy = {HEAVY_MODULES!r}
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy or m.startswith({PLUGIN_PACKAGE_PREFIX!r}))
        print("LOADED", loaded)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "LOADED []"


def test_python_dash_m_ccproxy(env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli("--version", env=env, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, f"ccproxy {__version__}\n")


def test_help_lists_builtin_commands() -> None:
    code, out, _ = invoke("--help")
    assert code == 0
    for name in ("serve", "plugins", "config", "auth"):
        assert name in out


def test_commands_group_matches_the_plugin_api() -> None:
    from ccproxy.plugins import COMMANDS_GROUP as API_COMMANDS_GROUP

    assert COMMANDS_GROUP == API_COMMANDS_GROUP


# serve


def test_serve_every_config_layer_reaches_the_running_server(
    env: dict[str, str], tmp_path: Path
) -> None:
    write_probe(tmp_path)
    (tmp_path / ".ccproxy.toml").write_text(
        textwrap.dedent(
            """\
            enabled_plugins = ["probe"]
            [server]
            port = 1
            max_request_body_bytes = 1111
            [http]
            read_timeout_seconds = 11
            [plugins.probe]
            value = "file"
            number = 1
            label = "file"
            """
        )
    )
    port = free_port()
    env.update(
        SERVER__PORT="2",  # loses to --port
        HTTP__READ_TIMEOUT_SECONDS="22",  # beats the file
        PLUGINS__PROBE__NUMBER="2",  # beats the file
        PLUGINS__PROBE__LABEL="env",  # loses to --set
    )
    with serving(
        "--port", str(port), "--set", "plugins.probe.label=cli", env=env, cwd=tmp_path
    ) as (proc, log):
        assert wait_for_health(proc, log, port).status_code == 200
        body = httpx.get(f"http://127.0.0.1:{port}/probe/config", timeout=5).json()
    assert body == {
        "plugin": {"value": "file", "number": 2, "label": "cli"},
        "core": {"port": port, "max_request_body_bytes": 1111, "read_timeout_seconds": 22.0},
    }


def test_serve_on_port_zero_prints_the_bound_port(env: dict[str, str], tmp_path: Path) -> None:
    with serving("--port", "0", "--set", "enabled_plugins=[]", env=env, cwd=tmp_path) as (
        proc,
        log,
    ):
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        line = ""
        while not line and time.monotonic() < deadline and proc.poll() is None:
            line = next(
                (
                    ln
                    for ln in log.read_text().splitlines()
                    if ln.startswith("ccproxy listening on")
                ),
                "",
            )
            time.sleep(0.05)
        assert line.startswith("ccproxy listening on http://127.0.0.1:"), log.read_text()
        port = int(line.rsplit(":", 1)[1])
        assert port != 0
        assert wait_for_health(proc, log, port).status_code == 200


def test_serve_refuses_a_public_host_without_a_token(env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli(
        "serve", "--host", "0.0.0.0", "--port", str(free_port()), env=env, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "refusing to listen on '0.0.0.0'" in result.stderr
    assert "security.auth_token" in result.stderr


def test_serve_binds_a_public_host_with_a_token(env: dict[str, str], tmp_path: Path) -> None:
    port = free_port("0.0.0.0")
    args = (
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
        "--set",
        "security.auth_token=s3cret-token-value",
    )
    with serving(*args, "--set", "enabled_plugins=[]", env=env, cwd=tmp_path) as (proc, log):
        assert wait_for_health(proc, log, port).status_code == 200
        status = httpx.get(f"http://127.0.0.1:{port}/api/plugins/status", timeout=5)
        assert status.status_code == 401
    assert "s3cret-token-value" not in log.read_text()


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("env", "server.port = 'abc' (from env SERVER__PORT): Input should be a valid integer"),
        (
            "set",
            "server.max_request_body_bytes = 0 (from --set): Input should be greater than or equal to 1",
        ),
        (
            "file",
            "http.read_timeout_seconds = 'soon' (from file {file}): Input should be a valid number",
        ),
    ],
)
def test_serve_exits_2_naming_a_bad_core_value(
    how: str, expected: str, env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / ".ccproxy.toml"
    args: list[str] = []
    if how == "env":
        env["SERVER__PORT"] = "abc"
    elif how == "set":
        args = ["--set", "server.max_request_body_bytes=0"]
    else:
        config.write_text('[http]\nread_timeout_seconds = "soon"\n')
    result = run_cli("serve", *args, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert expected.format(file=config) in result.stderr
    assert "listening" not in result.stderr


def test_serve_masks_a_bad_secret(isolated: Path) -> None:
    (isolated / ".ccproxy.toml").write_text("[security]\nauth_token = 123456789\n")
    code, _, err = invoke("serve")
    assert code == 2
    assert "security.auth_token = *** (from file" in err
    assert "123456789" not in err


def test_serve_rejects_a_malformed_set(isolated: Path) -> None:
    code, _, err = invoke("serve", "--set", "server.port")
    assert code == 2
    assert "--set expects KEY=VALUE, got 'server.port'" in err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.2", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


# plugins list / settings


def test_plugins_list_with_core_alone_hints_at_installing(isolated: Path) -> None:
    code, out, _ = invoke("plugins", "list")
    assert code == 0
    if INSTALLED_PLUGINS:
        # In an environment with plugin packages (the all-packages dev venv) they are listed
        # instead; the per-package nox session has core alone and checks the hint.
        assert not out.startswith("No plugins installed.")
        for name in INSTALLED_PLUGINS:
            assert name in out
        return
    assert out.startswith("No plugins installed.\n")
    assert "pip install ccproxy-plugin-claude ccproxy-plugin-codex" in out
    assert str(isolated / "plugins") in out  # where local plugins would be found

    code, out, _ = invoke("plugins", "list", "--set", "plugins_disable_local_discovery=true")
    assert "Local plugin directories are off" in out


def test_plugins_list_json_shows_a_local_plugin(isolated: Path) -> None:
    folder = write_probe(isolated)
    code, out, _ = invoke("plugins", "list", "--json")
    assert code == 0
    probe = next(p for p in json.loads(out)["plugins"] if p["name"] == "probe")
    assert probe["type"] == "system"
    assert probe["version"] == "0.3.0"
    assert probe["source"] == "local"
    assert probe["distribution"] is None
    assert probe["location"] == str(folder / "plugin.py")
    assert (probe["status"], probe["enabled"], probe["error"]) == ("loaded", True, None)


def test_plugins_list_says_why_a_plugin_does_not_run(isolated: Path) -> None:
    write_probe(isolated)
    broken = isolated / "plugins" / "broken"
    broken.mkdir()
    (broken / "plugin.py").write_text("import not_a_module_anywhere\n")
    code, out, _ = invoke("plugins", "list", "--disable-plugin", "probe")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "VERSION", "STATUS", "FROM"]
    probe = lines.index(next(ln for ln in lines if ln.startswith("probe ")))
    assert lines[probe].split()[:4] == ["probe", "-", "-", "disabled"]
    assert lines[probe + 1].strip() == "why: disabled by plugins.probe.enabled = false"
    broken_row = lines.index(next(ln for ln in lines if ln.startswith("broken ")))
    assert "failed" in lines[broken_row]
    assert "not_a_module_anywhere" in lines[broken_row + 1]
    assert max(len(line) for line in lines) <= 100


def test_plugins_list_config_error_is_shown_for_that_plugin_only(isolated: Path) -> None:
    write_probe(isolated)
    code, out, _ = invoke("plugins", "list", "--json", "--set", "plugins.probe.number=many")
    assert code == 0
    probe = next(p for p in json.loads(out)["plugins"] if p["name"] == "probe")
    assert probe["status"] == "failed"
    assert "plugins.probe.number" in probe["error"]


def test_plugins_settings_shows_fields_values_sources_and_env_names(isolated: Path) -> None:
    write_probe(isolated)
    (isolated / ".ccproxy.toml").write_text(
        '[plugins.probe]\nvalue = "file"\napi_token = "tok-123456789"\n'
    )
    code, out, _ = invoke("plugins", "settings", "probe", "--set", "plugins.probe.number=7")
    assert code == 0, out
    assert out.startswith("Plugin probe 0.3.0 (from local: ")
    assert ": enabled\n" in out.splitlines()[0] + "\n"
    block = out.split("\nvalue: str\n", 1)[1].split("\n\n", 1)[0]
    assert '    default: "default"' in block
    assert f'    current: "file"  (from file {isolated / ".ccproxy.toml"})' in block
    assert "    env:     PLUGINS__PROBE__VALUE" in block
    assert "Reported by GET /probe/config." in block
    assert "    current: 7  (from --set)" in out
    assert "tok-123456789" not in out
    assert "    current: ***" in out

    code, out, _ = invoke("plugins", "settings", "probe", "--json")
    fields = {f["name"]: f for f in json.loads(out)["fields"]}
    assert fields["api_token"]["value"] == "***"
    assert fields["api_token"]["type"] == "SecretStr | None"
    assert fields["number"] == {
        "name": "number",
        "type": "int",
        "required": False,
        "default": 1,
        "value": 1,
        "source": "default",
        "description": "",
        "env": "PLUGINS__PROBE__NUMBER",
    }


def test_plugins_settings_of_an_unknown_plugin_lists_the_known_ones(isolated: Path) -> None:
    write_probe(isolated)
    code, _, err = invoke("plugins", "settings", "nope")
    assert code == 1
    assert "unknown plugin 'nope'" in err
    assert "probe" in err


# config show


def test_config_show_lists_values_and_sources_with_secrets_masked(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = isolated / ".ccproxy.toml"
    config.write_text('[server]\nport = 8123\n[security]\nauth_token = "tok-abcdefghijkl"\n')
    monkeypatch.setenv("HTTP__READ_TIMEOUT_SECONDS", "42")
    code, out, _ = invoke("config", "show", "--set", "logging.level=debug")
    assert code == 0
    assert out.splitlines()[0] == f"config file: {config}"
    table_lines = out.split("\n\n")[1].splitlines()[1:]  # below the header
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in table_lines}
    assert rows["server.port"] == ["8123", f"file {config}"]
    assert rows["security.auth_token"] == ["***", f"file {config}"]
    assert rows["http.read_timeout_seconds"] == ["42.0", "env HTTP__READ_TIMEOUT_SECONDS"]
    assert rows["logging.level"] == ['"DEBUG"', "--set"]
    assert rows["server.host"] == ['"127.0.0.1"', "default"]
    assert "tok-abcdefghijkl" not in out


def test_config_show_json(isolated: Path) -> None:
    code, out, _ = invoke(
        "config",
        "show",
        "--json",
        "--set",
        "security.auth_token=tok-abcdefghijkl",
        "--enable-plugin",
        "probe",
    )
    assert code == 0
    body = json.loads(out)
    assert body["config_file"] is None
    assert body["settings"]["security"]["auth_token"] == "***"
    assert body["settings"]["plugins"] == {"probe": {"enabled": True}}
    assert body["sources"]["security.auth_token"] == "cli:--set"
    assert body["sources"]["plugins.probe.enabled"] == "cli:--enable-plugin"
    assert body["sources"]["server.port"] == "default"


def test_config_show_prints_the_plugin_folders_searched(
    isolated: Path, env: dict[str, str]
) -> None:
    (isolated / "plugins").mkdir()
    code, out, _ = invoke("config", "show")
    assert code == 0
    tail = out.split("local plugin folders searched (the default, plugin_dirs unset):\n")[1]
    assert tail.splitlines() == [
        f"  {isolated / 'plugins'}",
        f"  {Path(env['XDG_CONFIG_HOME']) / 'ccproxy' / 'plugins'}  (does not exist)",
    ]
    code, out, _ = invoke("config", "show", "--json", "--set", 'plugin_dirs=["mine", "/abs"]')
    assert json.loads(out)["local_plugin_dirs"] == [str(isolated / "mine"), "/abs"]
    code, out, _ = invoke("config", "show", "--set", "plugins_disable_local_discovery=true")
    assert out.rstrip().endswith(
        "local plugin folders: none searched (plugins_disable_local_discovery)"
    )


# plugin commands and auth dispatch, from a real (fake) distribution on PYTHONPATH


@pytest.fixture
def fake_dist_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    env["PYTHONPATH"] = str(write_fake_distribution(tmp_path))
    env["FAKE_CMDS_MARKER"] = str(tmp_path / "imported.marker")
    return env


def test_help_lists_plugin_commands_without_importing_them(
    fake_dist_env: dict[str, str], tmp_path: Path
) -> None:
    result = run_cli("--help", env=fake_dist_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Plugin commands" in result.stdout
    hello = next(line for line in result.stdout.splitlines() if " hello " in line)
    assert "from fake-cmds" in hello
    assert "auth.fake" not in result.stdout
    assert not (tmp_path / "imported.marker").exists()


def test_plugin_command_is_imported_when_it_runs(
    fake_dist_env: dict[str, str], tmp_path: Path
) -> None:
    result = run_cli("hello", "--name", "plugin", env=fake_dist_env, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "hello plugin\n"), result.stderr
    assert (tmp_path / "imported.marker").exists()

    help_result = run_cli("hello", "--help", env=fake_dist_env, cwd=tmp_path)
    assert help_result.returncode == 0
    assert "Usage: ccproxy hello [OPTIONS]" in help_result.stdout
    assert "--name" in help_result.stdout


def test_builtin_command_wins_over_a_plugin_command_of_the_same_name(
    fake_dist_env: dict[str, str], tmp_path: Path
) -> None:
    result = run_cli("serve", "--help", env=fake_dist_env, cwd=tmp_path)
    assert result.returncode == 0
    assert "--enable-plugin" in result.stdout
    assert not (tmp_path / "imported.marker").exists()


def test_plugin_command_that_fails_to_import_names_its_distribution(
    fake_dist_env: dict[str, str], tmp_path: Path
) -> None:
    result = run_cli("broken", env=fake_dist_env, cwd=tmp_path)
    assert result.returncode == 1
    assert "command 'broken' from fake-cmds could not be imported" in result.stderr
    assert "fake_cmds_missing" in result.stderr


def test_auth_dispatches_to_the_provider_cli(fake_dist_env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli("auth", "login", "fake", "--flag", env=fake_dist_env, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "fake login flag=True\n"), result.stderr

    result = run_cli("auth", "status", "fake", env=fake_dist_env, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "fake status\n"), result.stderr

    result = run_cli("auth", "login", "fake", "--help", env=fake_dist_env, cwd=tmp_path)
    assert result.returncode == 0
    assert "Usage: ccproxy auth login fake [OPTIONS]" in result.stdout
    assert "A provider-only option." in result.stdout


def test_auth_help_lists_installed_providers(fake_dist_env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli("auth", "--help", env=fake_dist_env, cwd=tmp_path)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "Installed providers:" in text
    assert "fake (from fake-cmds)" in text.split("Installed providers:", 1)[1]
    assert not (tmp_path / "imported.marker").exists()


def test_auth_with_an_unknown_provider_lists_the_installed_ones(
    fake_dist_env: dict[str, str], tmp_path: Path
) -> None:
    result = run_cli("auth", "login", "nope", env=fake_dist_env, cwd=tmp_path)
    assert result.returncode == 1
    assert "no auth provider named 'nope'" in result.stderr
    assert "fake" in result.stderr

    result = run_cli("auth", "refresh", "fake", env=fake_dist_env, cwd=tmp_path)
    assert result.returncode == 1
    assert "auth provider 'fake' (from fake-cmds) has no 'refresh' command" in result.stderr


def test_auth_without_providers_suggests_installing_one() -> None:
    code, _, err = invoke("auth", "login", "foo")
    assert code == 1
    assert "no auth provider named 'foo'" in err
    installed = [
        ep.name for ep in metadata.entry_points(group=COMMANDS_GROUP) if ep.name.startswith("auth.")
    ]
    if not installed:
        assert "pip install ccproxy-plugin-claude" in err
        assert "ccproxy-plugin-codex" in err


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("set", "plugins.probe.number = 'many' (from --set): Input should be a valid integer"),
        ("env", "plugins.probe.number = 'many' (from env PLUGINS__PROBE__NUMBER): Input should"),
        ("file", "plugins.probe.number = 'many' (from file {file}): Input should"),
    ],
)
def test_serve_exits_2_naming_a_bad_plugin_value(
    how: str, expected: str, env: dict[str, str], tmp_path: Path
) -> None:
    # Subprocesses: serve configures the process's logging before it builds the app.
    write_probe(tmp_path)
    config = tmp_path / ".ccproxy.toml"
    args: list[str] = []
    if how == "set":
        args = ["--set", "plugins.probe.number=many"]
    elif how == "env":
        env["PLUGINS__PROBE__NUMBER"] = "many"
    else:
        config.write_text('[plugins.probe]\nnumber = "many"\n')
    result = run_cli("serve", "--port", "0", *args, env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "ccproxy: configuration error" in result.stderr
    assert expected.format(file=config) in result.stderr
    assert "listening" not in result.stderr


def test_serve_masks_a_bad_plugin_secret(env: dict[str, str], tmp_path: Path) -> None:
    write_probe(tmp_path)
    result = run_cli(
        "serve", "--port", "0", "--set", "plugins.probe.api_token=[1]", env=env, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "plugins.probe.api_token = *** (from --set)" in result.stderr
    assert "[1]" not in result.stderr
