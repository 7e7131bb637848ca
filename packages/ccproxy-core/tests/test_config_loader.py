"""The settings loader: defaults < TOML file < environment < CLI, file discovery, errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import ccproxy.config
from ccproxy.config import (
    ConfigSources,
    SettingsError,
    find_config_file,
    load_settings,
    parse_assignment,
)
from ccproxy.config.loader import is_secret_key, mask_value


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment whose HOME and XDG_CONFIG_HOME hold no config file."""
    (tmp_path / "home").mkdir()
    return {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config")}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_config_package_exports() -> None:
    assert sorted(ccproxy.config.__all__) == sorted(
        [
            "LOOPBACK_HOSTS",
            "ConfigSources",
            "HttpSettings",
            "HttpUrlStr",
            "LoggingSettings",
            "SecuritySettings",
            "ServerSettings",
            "Settings",
            "SettingsError",
            "StateSettings",
            "find_config_file",
            "load_settings",
            "check_http_url",
            "parse_assignment",
        ]
    )


# precedence


def test_defaults_when_nothing_is_configured(tmp_path: Path, home: dict[str, str]) -> None:
    settings = load_settings(env=home, cwd=tmp_path)
    assert settings.server.port == 8000
    assert settings.plugins == {}
    assert settings.config_sources.config_file is None
    assert settings.config_sources.source_of("server.port") == "default"


def test_each_layer_beats_the_one_below_key_by_key(tmp_path: Path, home: dict[str, str]) -> None:
    config = write(
        tmp_path / "c.toml",
        """
        [server]
        port = 8101
        max_request_body_bytes = 1000
        [http]
        connect_timeout_seconds = 3
        [plugins.probe]
        a = "file"
        b = "file"
        c = "file"
        """.replace("        ", ""),
    )
    env = {
        **home,
        "SERVER__PORT": "8102",
        "HTTP__CONNECT_TIMEOUT_SECONDS": "4",
        "PLUGINS__PROBE__B": "env",
        "PLUGINS__PROBE__C": "env",
    }
    cli = {"server.port": 8103, "plugins.probe.c": "cli"}

    settings = load_settings(config_file=config, env=env, cli=cli, cwd=tmp_path)

    assert settings.server.port == 8103  # cli > env > file
    assert settings.server.max_request_body_bytes == 1000  # file > default
    assert settings.server.host == "127.0.0.1"  # default
    assert settings.http.connect_timeout_seconds == 4  # env > file
    assert settings.plugins["probe"] == {"a": "file", "b": "env", "c": "cli"}
    sources = settings.config_sources
    assert sources.config_file == config
    assert sources.source_of("server.port") == "cli:--set"
    assert sources.source_of("server.max_request_body_bytes") == f"file:{config}"
    assert sources.source_of("http.connect_timeout_seconds") == "env:HTTP__CONNECT_TIMEOUT_SECONDS"
    assert sources.source_of("plugins.probe.a") == f"file:{config}"
    assert sources.source_of("plugins.probe.b") == "env:PLUGINS__PROBE__B"
    assert sources.source_of("plugins.probe.c") == "cli:--set"
    assert sources.source_of("server.host") == "default"


def test_tables_merge_key_by_key_across_layers(tmp_path: Path, home: dict[str, str]) -> None:
    config = write(tmp_path / "c.toml", '[plugins.codex.model_aliases]\nsonnet = "gpt-5"\n')
    settings = load_settings(
        config_file=config,
        env={**home, "PLUGINS__CODEX__BASE_URL": "http://127.0.0.1:9/env"},
        cli={"plugins.codex.model_aliases": {"haiku": "gpt-5-mini"}},
        cwd=tmp_path,
    )
    assert settings.plugins["codex"] == {
        "model_aliases": {"sonnet": "gpt-5", "haiku": "gpt-5-mini"},
        "base_url": "http://127.0.0.1:9/env",
    }


def test_named_cli_options_are_recorded_as_their_option(
    tmp_path: Path, home: dict[str, str]
) -> None:
    settings = load_settings(
        env=home, cwd=tmp_path, cli={"server.port": 9001}, cli_options={"server.port": "--port"}
    )
    assert settings.config_sources.source_of("server.port") == "cli:--port"
    assert settings.config_sources.describe("server.port") == "--port"


def test_pydantic_settings_does_not_read_os_environ_behind_the_loader(
    tmp_path: Path, home: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVER__PORT", "8999")
    monkeypatch.setenv("PLUGINS__LEAK__X", "1")
    settings = load_settings(env=home, cwd=tmp_path)
    assert settings.server.port == 8000
    assert "leak" not in settings.plugins


def test_environment_defaults_to_os_environ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CCPROXY_CONFIG", raising=False)
    monkeypatch.setenv("SERVER__PORT", "8998")
    assert load_settings(cwd=tmp_path).server.port == 8998


# environment variables


def test_env_names_are_case_insensitive_and_only_settings_keys_count(
    tmp_path: Path, home: dict[str, str]
) -> None:
    env = {
        **home,
        "server__port": "8111",
        "PLUGINS_DISABLE_LOCAL_DISCOVERY": "true",
        "PATH": "/bin",
        "SERVERPORT": "1",
    }
    settings = load_settings(env=env, cwd=tmp_path)
    assert settings.server.port == 8111
    assert settings.plugins_disable_local_discovery is True
    assert set(settings.config_sources.values) == {"server.port", "plugins_disable_local_discovery"}


@pytest.mark.parametrize("value", ['["a", "b"]', "a,b", " a , b ,"])
def test_env_list_keys_take_json_or_comma_separated(
    tmp_path: Path, home: dict[str, str], value: str
) -> None:
    settings = load_settings(
        env={**home, "ENABLED_PLUGINS": value, "SECURITY__ALLOWED_HOSTS": value}, cwd=tmp_path
    )
    assert settings.enabled_plugins == ["a", "b"]
    assert settings.security.allowed_hosts == ["a", "b"]


def test_env_nested_plugin_keys_keep_their_names(tmp_path: Path, home: dict[str, str]) -> None:
    env = {
        **home,
        "PLUGINS__OAUTH_CODEX__CLIENT_ID": "abc",
        "PLUGINS__CODEX__PROFILE__ORIGINATOR": "x",
    }
    settings = load_settings(env=env, cwd=tmp_path)
    assert settings.plugins == {
        "oauth_codex": {"client_id": "abc"},
        "codex": {"profile": {"originator": "x"}},
    }


# --set


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server.port=8001", ("server.port", 8001)),
        ("plugins_disable_local_discovery=true", ("plugins_disable_local_discovery", True)),
        ("http.read_timeout_seconds=2.5", ("http.read_timeout_seconds", 2.5)),
        ('plugins.codex.model_aliases={"a"="b"}', ("plugins.codex.model_aliases", {"a": "b"})),
        ('plugins.codex.model_aliases={"a": "b"}', ("plugins.codex.model_aliases", {"a": "b"})),
        ('enabled_plugins=["a","b"]', ("enabled_plugins", ["a", "b"])),
        ("plugins.codex.base_url=http://x", ("plugins.codex.base_url", "http://x")),
        ("plugins.x.note=hello world", ("plugins.x.note", "hello world")),
        ('plugins.x.id="123"', ("plugins.x.id", "123")),
        ("plugins.x.empty=", ("plugins.x.empty", "")),
        ("plugins.x.eq=a=b", ("plugins.x.eq", "a=b")),
        # core keys holding text keep the text as written
        ("security.auth_token=123456", ("security.auth_token", "123456")),
        ("server.host=true", ("server.host", "true")),
    ],
)
def test_parse_assignment(text: str, expected: tuple[str, object]) -> None:
    assert parse_assignment(text) == expected


@pytest.mark.parametrize("text", ["server.port", "=1", "a..b=1"])
def test_parse_assignment_rejects_malformed_input(text: str) -> None:
    with pytest.raises(SettingsError, match="--set"):
        parse_assignment(text)


def test_quoted_key_parts_keep_their_dots(tmp_path: Path, home: dict[str, str]) -> None:
    key, value = parse_assignment('plugins.codex.model_aliases."gpt-4.1"=gpt-5')
    settings = load_settings(env=home, cwd=tmp_path, cli={key: value})
    assert settings.plugins["codex"]["model_aliases"] == {"gpt-4.1": "gpt-5"}


def test_set_values_reach_settings(tmp_path: Path, home: dict[str, str]) -> None:
    cli = dict(
        parse_assignment(text)
        for text in (
            "server.port=8001",
            "enabled_plugins=a,b",
            "security.auth_token=123",
            "logging.level=debug",
        )
    )
    settings = load_settings(env=home, cwd=tmp_path, cli=cli)
    assert settings.server.port == 8001
    assert settings.enabled_plugins == ["a", "b"]
    assert settings.security.auth_token is not None
    assert settings.security.auth_token.get_secret_value() == "123"
    assert settings.logging.level == "DEBUG"


# file discovery


def test_find_config_file_order(tmp_path: Path, home: dict[str, str]) -> None:
    xdg = write(Path(home["XDG_CONFIG_HOME"]) / "ccproxy" / "config.toml", "")
    assert find_config_file(env=home, cwd=tmp_path) == xdg

    local = write(tmp_path / ".ccproxy.toml", "")
    assert find_config_file(env=home, cwd=tmp_path) == local

    from_env = write(tmp_path / "env.toml", "")
    env = {**home, "CCPROXY_CONFIG": str(from_env)}
    assert find_config_file(env=env, cwd=tmp_path) == from_env

    explicit = write(tmp_path / "explicit.toml", "")
    assert find_config_file(explicit, env=env, cwd=tmp_path) == explicit


def test_xdg_defaults_to_home_dot_config(tmp_path: Path) -> None:
    path = write(tmp_path / ".config" / "ccproxy" / "config.toml", "[server]\nport = 8200\n")
    settings = load_settings(env={"HOME": str(tmp_path)}, cwd=tmp_path / ".config")
    assert settings.server.port == 8200
    assert settings.config_sources.config_file == path


def test_relative_explicit_path_is_resolved_against_cwd(
    tmp_path: Path, home: dict[str, str]
) -> None:
    write(tmp_path / "conf" / "x.toml", "[server]\nport = 8201\n")
    settings = load_settings(config_file=Path("conf/x.toml"), env=home, cwd=tmp_path)
    assert settings.server.port == 8201


def test_missing_explicit_file_is_an_error(tmp_path: Path, home: dict[str, str]) -> None:
    write(tmp_path / ".ccproxy.toml", "")  # present, but an explicit path wins and is missing
    with pytest.raises(SettingsError, match=r"nope\.toml does not exist \(from --config\)"):
        load_settings(config_file=tmp_path / "nope.toml", env=home, cwd=tmp_path)
    env = {**home, "CCPROXY_CONFIG": str(tmp_path / "gone.toml")}
    with pytest.raises(
        SettingsError, match=r"gone\.toml does not exist \(from env CCPROXY_CONFIG\)"
    ):
        load_settings(env=env, cwd=tmp_path)


# errors


def test_bad_value_from_env_names_key_value_and_source(
    tmp_path: Path, home: dict[str, str]
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env={**home, "SERVER__PORT": "abc"}, cwd=tmp_path)
    assert str(caught.value).startswith(
        "server.port = 'abc' (from env SERVER__PORT): Input should be a valid integer"
    )


def test_bad_value_from_file_names_the_file(tmp_path: Path, home: dict[str, str]) -> None:
    config = write(tmp_path / ".ccproxy.toml", '[http]\nread_timeout_seconds = "soon"\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(env=home, cwd=tmp_path)
    assert f"http.read_timeout_seconds = 'soon' (from file {config}): " in str(caught.value)


def test_bad_value_from_cli_names_the_option(tmp_path: Path, home: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            env=home,
            cwd=tmp_path,
            cli={"server.port": 70000},
            cli_options={"server.port": "--port"},
        )
    assert "server.port = 70000 (from --port): Input should be less than or equal to 65535" in str(
        caught.value
    )

    with pytest.raises(SettingsError, match=r"logging\.level = 'LOUD' \(from --set\)"):
        load_settings(env=home, cwd=tmp_path, cli=dict([parse_assignment("logging.level=LOUD")]))


def test_secret_values_are_masked_in_errors(tmp_path: Path, home: dict[str, str]) -> None:
    config = write(tmp_path / ".ccproxy.toml", "[security]\nauth_token = 31337424242\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(env=home, cwd=tmp_path)
    message = str(caught.value)
    assert (
        f"security.auth_token = *** (from file {config}): Input should be a valid string" in message
    )
    assert "31337" not in message

    with pytest.raises(SettingsError) as caught:
        load_settings(env=home, cwd=tmp_path, cli={"security.auth_token": {"t": "hunter2"}})
    assert "security.auth_token = *** (from --set)" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_every_problem_is_reported(tmp_path: Path, home: dict[str, str]) -> None:
    env = {**home, "SERVER__PORT": "abc", "HTTP__MAX_CONNECTIONS": "0"}
    with pytest.raises(SettingsError) as caught:
        load_settings(env=env, cwd=tmp_path)
    assert [p.split(" = ")[0] for p in caught.value.problems] == [
        "server.port",
        "http.max_connections",
    ]


def test_unknown_keys_are_errors(tmp_path: Path, home: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match=r"server\.prot = 1 \(from --set\): Extra inputs"):
        load_settings(env=home, cwd=tmp_path, cli={"server.prot": 1})
    with pytest.raises(SettingsError, match=r"sever: unknown setting \(from --set\)"):
        load_settings(env=home, cwd=tmp_path, cli={"sever.port": 1})
    config = write(tmp_path / "c.toml", "[sever]\nport = 1\n")
    with pytest.raises(SettingsError, match=rf"sever: unknown setting \(from file {config}\)"):
        load_settings(config_file=config, env=home, cwd=tmp_path)


def test_plugin_values_are_not_checked_here(tmp_path: Path, home: dict[str, str]) -> None:
    env = {**home, "PLUGINS__CODEX__TIMEOUT": "not-a-number"}
    settings = load_settings(env=env, cwd=tmp_path, cli={"plugins.codex.extra": [1, {"x": None}]})
    assert settings.plugins["codex"] == {"timeout": "not-a-number", "extra": [1, {"x": None}]}


def test_toml_syntax_error_names_file_and_line(tmp_path: Path, home: dict[str, str]) -> None:
    config = write(tmp_path / ".ccproxy.toml", "[server]\nport = 8000\nhost = \n")
    with pytest.raises(SettingsError) as caught:
        load_settings(env=home, cwd=tmp_path)
    assert str(config) in str(caught.value)
    assert "line 3" in str(caught.value)


def test_sources_of_nested_keys_fall_back_to_the_enclosing_key() -> None:
    sources = ConfigSources(values={"plugins.codex.model_aliases": "env:X"})
    assert sources.source_of("plugins.codex.model_aliases.a") == "env:X"
    assert sources.source_of(["plugins", "codex", "base_url"]) == "default"
    assert sources.keys_under("plugins") == {"plugins.codex.model_aliases": "env:X"}


def test_settings_not_built_by_the_loader_report_defaults() -> None:
    assert (
        ccproxy.config.Settings.model_validate({}).config_sources.source_of("server.port")
        == "default"
    )


def test_loader_leaves_os_environ_alone(tmp_path: Path, home: dict[str, str]) -> None:
    before = dict(os.environ)
    load_settings(env={**home, "SERVER__PORT": "8001"}, cwd=tmp_path)
    assert dict(os.environ) == before


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("security.auth_token", True),
        ("plugins.oauth_claude.oauth_token", True),
        ("plugins.x.client_secret", True),
        ("plugins.x.api-key", True),
        ("plugins.x.password", True),
        ("plugins.oauth_claude.credentials_file", False),
        ("plugins.codex.model_aliases.max_tokens", False),
        ("plugins.oauth_codex.refresh_margin_seconds", False),
        ("server.port", False),
    ],
)
def test_is_secret_key(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret
    assert (mask_value(key, "value") == "***") is secret


def test_a_table_set_only_through_nested_keys_reports_their_source(tmp_path: Path) -> None:
    from ccproxy.config.loader import describe_source

    settings = load_settings(
        env={"PLUGINS__CLAUDE__PROFILE__ORIGINATOR": "x", "XDG_CONFIG_HOME": str(tmp_path)},
        cwd=tmp_path,
        cli={"plugins.claude.profile.version": 2, "plugins.codex.profile.originator": "y"},
    )
    sources = settings.config_sources
    assert sources.source_of(["plugins", "codex", "profile"]) == "cli:--set"
    assert sources.source_of(["plugins", "claude", "profile"]) == "mixed"
    assert describe_source(sources.source_of(["plugins", "claude", "profile"])) == "several sources"
    assert (
        sources.source_of(["plugins", "claude", "profile", "originator"])
        == "env:PLUGINS__CLAUDE__PROFILE__ORIGINATOR"
    )
    assert sources.source_of(["plugins", "metrics", "ledger_path"]) == "default"


# --- HttpUrlStr --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://api.anthropic.com",
        "http://127.0.0.1:8000/v1",
        " https://x.example/a?b=c ",
        "HTTP://X",
    ],
)
def test_http_url_str_accepts_absolute_http_urls(url: str) -> None:
    from pydantic import TypeAdapter

    from ccproxy.config import HttpUrlStr

    assert TypeAdapter(HttpUrlStr).validate_python(url) == url.strip()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("notaurl", "no scheme"),
        ("api.example.com/v1", "no scheme"),
        ("localhost:8000", "no scheme"),
        ("ftp://files.example", "scheme 'ftp' is not http or https"),
        ("http://", "no host"),
        ("https://host:notaport", "not a valid URL"),
        ("https://exa mple.com", "contains whitespace"),
        ("", "empty"),
    ],
)
def test_http_url_str_refuses_anything_else(url: str, problem: str) -> None:
    from pydantic import TypeAdapter, ValidationError

    from ccproxy.config import HttpUrlStr

    with pytest.raises(ValidationError, match=problem):
        TypeAdapter(HttpUrlStr).validate_python(url)
