"""Fuzzing the whole app: nothing a client sends may produce a 5xx or a dropped connection.

One app with every plugin runs on a real uvicorn, Claude and Codex pointed at the loopback fakes
(see ``stack_thread.py``). schemathesis generates requests from ``/openapi.json`` for every
operation, in its positive and negative modes; Hypothesis strategies of ``fuzz_bodies.py`` send
near-valid bodies of each client dialect to that dialect's routes of both providers. A 4xx on
an LLM route must also be an error object of the route's dialect.

Every failure is collected (not the first only) and the test fails listing each distinct one
with a ``curl`` line to reproduce it. Runs are derandomized and bounded by
``CCPROXY_FUZZ_EXAMPLES`` (examples per operation, or per route for the dialect bodies).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from fuzz_bodies import BODIES_BY_ROUTE, dumps
from stack_thread import ThreadedStack, threaded_stack

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(900)]

EXAMPLES = int(os.environ.get("CCPROXY_FUZZ_EXAMPLES", "40"))
PROVIDERS = ("claude", "codex")
LLM_POSTS = tuple(BODIES_BY_ROUTE)
# A long-lived event stream by design: it never ends, so a request to it cannot "answer".
NOT_FUZZED = {"GET /permissions/api/events"}


def _fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


@dataclass
class Failures:
    """Distinct failures seen, keyed by route, status and the first words of the answer."""

    seen: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    requests: int = 0

    def add(self, where: str, what: str, reproduce: str) -> None:
        self.seen.setdefault((where, what), []).append(reproduce)

    def report(self) -> str:
        lines = [f"{len(self.seen)} distinct failures in {self.requests} requests:"]
        for (where, what), examples in sorted(self.seen.items()):
            shortest = min(examples, key=len)
            lines.append(f"- {where}: {what} (x{len(examples)})\n    {shortest[:600]}")
        return "\n".join(lines)


def _dialect_problem(path: str, status: int, body: bytes) -> str | None:
    """Why a 4xx from an LLM route is not an error of its dialect (``None`` if it is)."""
    try:
        document = json.loads(body)
    except ValueError:
        return f"{status} with a body that is not JSON"
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return f"{status} without an error object"
    if "/v1/messages" in path:
        if document.get("type") != "error" or not isinstance(error.get("type"), str):
            return f"{status} not in the Anthropic error shape"
    elif not isinstance(error.get("type"), str):
        return f"{status} not in the OpenAI error shape"
    return None


def _judge(
    stack: ThreadedStack, failures: Failures, where: str, status: int, body: bytes, reproduce: str
) -> None:
    failures.requests += 1
    if status >= 500:
        answer = body[:300].decode(errors="replace")
        # The app's log says why.
        cause = stack.errors.cause(answer) or answer
        # One cause is one failure, whatever the request id, bytes or offsets it names.
        cause = re.sub(r"req_[0-9a-f]+|b'(?:[^'\\]|\\.)*'|\b\d+\b", "…", cause)
        failures.add(where, f"{status}: {cause[:200]}", reproduce)
        return
    path = where.split(" ", 1)[-1]
    if 400 <= status < 500 and path.endswith(LLM_POSTS):
        problem = _dialect_problem(path, status, body)
        if problem is not None:
            failures.add(where, problem, reproduce)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedStack]:
    with threaded_stack(Path(tmp_path_factory.mktemp("fuzz"))) as running:
        yield running


@pytest.fixture(scope="module")
def raw_schema(stack: ThreadedStack) -> dict[str, Any]:
    response = httpx.get(f"{stack.url}/openapi.json", timeout=30)
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_openapi_describes_every_llm_route_and_is_valid(raw_schema: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_dict(raw_schema)
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    labels = set()
    for result in schema.get_all_operations():
        labels.add(result.ok().label)  # every operation resolves
    for provider in PROVIDERS:
        for suffix in LLM_POSTS:
            assert f"POST /{provider}{suffix}" in labels
        assert f"GET /{provider}/v1/models" in labels

    def validator(name: str) -> Any:
        root = {"$ref": f"#/components/schemas/{name}", "components": raw_schema["components"]}
        return jsonschema_rs.validator_for(root)

    messages = validator("MessagesRequest")
    assert messages.is_valid(
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "x": 1}
    )
    assert not messages.is_valid({"messages": []})  # model is required
    chat = validator("ChatRequestModel")
    assert chat.is_valid({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert not chat.is_valid({"model": "m", "messages": "hi"})
    responses = validator("ResponsesRequestBody")
    assert responses.is_valid({"model": "m", "input": "hi", "stream": True})
    assert not responses.is_valid({"model": 3})
    error = validator("AnthropicError")
    assert error.is_valid({"type": "error", "error": {"type": "api_error", "message": "m"}})
    assert validator("OpenAIError").is_valid(
        {"error": {"message": "m", "type": "server_error", "param": None, "code": None}}
    )


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_schemathesis_finds_no_server_error(
    stack: ThreadedStack, raw_schema: dict[str, Any], mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_dict(raw_schema)
    failures = Failures()
    session = requests.Session()
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        if operation.label in NOT_FUZZED:
            continue

        @_fuzz_settings(EXAMPLES)
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: schemathesis.Case) -> None:
            reproduce = case.as_curl_command(base_url=stack.url)
            try:
                response = case.call(base_url=stack.url, session=session, timeout=30)
            except requests.RequestException as exc:
                failures.add(case.operation.label, f"no answer: {type(exc).__name__}", reproduce)
                return
            _judge(
                stack,
                failures,
                case.operation.label,
                response.status_code,
                response.content,
                reproduce,
            )

        try:
            run()
        except Unsatisfiable:
            # Nothing in this operation can be made invalid (no parameters, no body).
            assert mode is GenerationMode.NEGATIVE, operation.label
    assert failures.requests > len(operations)
    if failures.seen:
        pytest.fail(failures.report(), pytrace=False)


@pytest.mark.parametrize("suffix", LLM_POSTS)
def test_dialect_bodies_find_no_server_error(stack: ThreadedStack, suffix: str) -> None:
    failures = Failures()
    bodies = BODIES_BY_ROUTE[suffix]
    query = {"beta": "true"} if suffix == "/v1/messages" else {}
    with httpx.Client(base_url=stack.url, timeout=30) as client:

        @_fuzz_settings(EXAMPLES * 3)
        @given(body=bodies)
        def run(body: Any) -> None:
            content = dumps(body)
            for provider in PROVIDERS:
                path = f"/{provider}{suffix}"
                reproduce = f"curl -X POST '{stack.url}{path}' -H 'content-type: application/json' -d '{content.decode()}'"
                try:
                    response = client.post(
                        path,
                        content=content,
                        params=query,
                        headers={"content-type": "application/json"},
                    )
                except httpx.TransportError as exc:
                    failures.add(f"POST {path}", f"no answer: {type(exc).__name__}", reproduce)
                    continue
                _judge(
                    stack,
                    failures,
                    f"POST {path}",
                    response.status_code,
                    response.content,
                    reproduce,
                )

        run()
    assert failures.requests > 0
    if failures.seen:
        pytest.fail(failures.report(), pytrace=False)
