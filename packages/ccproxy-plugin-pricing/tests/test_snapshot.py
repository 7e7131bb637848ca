"""The bundled snapshot against its source, the selection rule, and the script that builds it.

The literal prices below were read from ``litellm/model_prices_and_context_window_backup.json``
inside the ``litellm==1.110.2`` wheel on PyPI when the snapshot was generated; they are facts the
snapshot must reproduce exactly.
"""

from __future__ import annotations

import importlib.util
import json
import zipfile
from decimal import Decimal
from importlib import resources
from pathlib import Path
from types import ModuleType

import pytest

from ccproxy.plugins import Usage
from ccproxy_plugin_pricing.litellm import TableError, is_price_field, select_models
from ccproxy_plugin_pricing.service import PriceBook
from ccproxy_plugin_pricing.table import load_snapshot
from pricing_kit import PROBE, litellm_document

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "update_snapshot.py"

# model: (input, output, cache read, cache write 5m, cache write 1h) per token, from litellm 1.110.2
LITELLM_1_110_2 = {
    "claude-sonnet-4-5": (3e-06, 1.5e-05, 3e-07, 3.75e-06, 6e-06),
    "claude-opus-4-8": (5e-06, 2.5e-05, 5e-07, 6.25e-06, 1e-05),
    "claude-haiku-4-5": (1e-06, 5e-06, 1e-07, 1.25e-06, 2e-06),
    "gpt-5": (1.25e-06, 1e-05, 1.25e-07, None, None),
    "gpt-4o": (2.5e-06, 1e-05, 1.25e-06, None, None),
    "o3": (2e-06, 8e-06, 5e-07, None, None),
    "o4-mini": (1.1e-06, 4.4e-06, 2.75e-07, None, None),
}
FIELDS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "cache_creation_input_token_cost_above_1hr",
)


def snapshot_document() -> dict[str, object]:
    text = resources.files("ccproxy_plugin_pricing").joinpath("data/prices.json").read_text()
    document = json.loads(text)
    assert isinstance(document, dict)
    return document


def test_snapshot_records_its_source_and_litellm_version() -> None:
    document = snapshot_document()
    assert document["source"] == "litellm"
    assert document["litellm_version"] == "1.110.2"
    assert document["source_file"] == "litellm/model_prices_and_context_window_backup.json"
    assert isinstance(document["generated_at"], str)
    table = load_snapshot()
    assert table.origin == "snapshot"
    assert table.litellm_version == "1.110.2"
    assert len(table) == 147


@pytest.mark.parametrize("model", sorted(LITELLM_1_110_2))
def test_snapshot_prices_equal_the_litellm_source(model: str) -> None:
    models = snapshot_document()["models"]
    assert isinstance(models, dict)
    for field, expected in zip(FIELDS, LITELLM_1_110_2[model], strict=True):
        assert models[model].get(field) == expected, (model, field)


def test_snapshot_keeps_tiers_and_limits() -> None:
    models = snapshot_document()["models"]
    assert isinstance(models, dict)
    gpt_54 = models["gpt-5.4"]
    assert gpt_54["input_cost_per_token_above_272k_tokens"] == 5e-06
    assert gpt_54["output_cost_per_token_above_272k_tokens"] == 2.25e-05
    assert gpt_54["cache_read_input_token_cost_above_272k_tokens"] == 5e-07
    assert gpt_54["max_input_tokens"] == 1050000
    assert models["claude-sonnet-4-5"]["max_output_tokens"] == 64000
    assert models["o3"]["supports_reasoning"] is True


def test_snapshot_holds_only_anthropic_and_openai_chat_models_and_their_price_fields() -> None:
    models = snapshot_document()["models"]
    assert isinstance(models, dict)
    assert "sample_spec" not in models
    allowed_info = {
        "litellm_provider",
        "mode",
        "max_input_tokens",
        "max_output_tokens",
        "max_tokens",
        "supports_reasoning",
        "supports_prompt_caching",
        "supports_vision",
        "supports_function_calling",
        "deprecation_date",
    }
    for name, model in models.items():
        assert model["litellm_provider"] in ("anthropic", "openai"), name
        assert model["mode"] in ("chat", "responses"), name
        extra = {f for f in model if not is_price_field(f)} - allowed_info
        assert not extra, (name, extra)
        assert not any(f.endswith(("_batches", "_priority", "_flex")) for f in model), name


def test_real_costs_from_the_snapshot() -> None:
    book = PriceBook(load_snapshot())
    usage = Usage(input=1200, output=800, cache_read=30000, cache_write_5m=2000, cache_write_1h=500)
    # 1200×0.000005 + 800×0.000025 + 30000×0.0000005 + 2000×0.00000625 + 500×0.00001
    assert book.cost("claude-opus-4-8", usage) == Decimal("0.0585")
    # gpt-5.4 above 272k prompt tokens: 300000×0.000005 + 1000×0.0000225
    assert book.cost("gpt-5.4", Usage(input=300_000, output=1000)) == Decimal("1.5225")
    assert book.cost("gpt-5.4", Usage(input=272_000, output=1000)) == Decimal("0.695")


def test_selection_keeps_anthropic_and_openai_chat_and_responses_models_only() -> None:
    models = select_models(litellm_document())
    assert PROBE in models
    assert "sample_spec" not in models
    assert "bedrock/claude-probe-1" not in models
    assert "text-embedding-probe" not in models
    assert len(models) == 25
    assert "search_context_cost_per_query" not in models[PROBE]
    assert models[PROBE]["supports_reasoning"] is True


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "must be a JSON object"),
        ({}, "fewer than the 1 required"),
        (litellm_document(probe_input="0.000001"), "input_cost_per_token must be a non-negative"),
        (litellm_document(probe_input=-1.0), "non-negative"),
        (litellm_document(probe_input=True), "non-negative"),
        (litellm_document(output_cost_per_token=None), "output_cost_per_token"),
    ],
)
def test_selection_rejects_malformed_tables(document: object, message: str) -> None:
    with pytest.raises(TableError, match=message):
        select_models(document)


def test_selection_rejects_a_table_with_too_few_models() -> None:
    with pytest.raises(TableError, match="25 Anthropic/OpenAI chat models, fewer than the 26"):
        select_models(litellm_document(), min_models=26)


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("update_snapshot", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_update_script_builds_the_snapshot_from_a_wheel(tmp_path: Path) -> None:
    wheel = tmp_path / "litellm-9.9.9-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("litellm-9.9.9.dist-info/METADATA", "Name: litellm\nVersion: 9.9.9\n")
        archive.writestr(
            "litellm/model_prices_and_context_window_backup.json", json.dumps(litellm_document())
        )
    output = tmp_path / "prices.json"
    script = load_script()
    assert script.main(["--wheel", str(wheel), "--version", "9.9.9", "--output", str(output)]) == 0
    document = json.loads(output.read_text())
    assert document["source"] == "litellm"
    assert document["litellm_version"] == "9.9.9"
    assert document["wheel"] == wheel.name
    assert set(document["models"]) == set(select_models(litellm_document()))
    assert document["models"][PROBE]["input_cost_per_token"] == 1e-06
    with pytest.raises(SystemExit, match=r"asked for litellm 1\.0\.0, the wheel is 9\.9\.9"):
        script.main(["--wheel", str(wheel), "--version", "1.0.0", "--output", str(output)])
