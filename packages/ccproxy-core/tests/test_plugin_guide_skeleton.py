"""The plugin authoring guide's own skeleton, loaded from a local plugin directory."""

from __future__ import annotations

import textwrap
from pathlib import Path

from ccproxy.config import Settings
from ccproxy.testing import app_client, started_app

GUIDE_SKELETON = """
from ccproxy.plugins import PluginManifest, ProviderPluginRuntime, ProviderPluginFactory
from pydantic import BaseModel
from fastapi import APIRouter

class MyProviderConfig(BaseModel):
    enabled: bool = True
    greeting: str = "hello"

router = APIRouter()

@router.get("/hello")
async def hello():
    return {"message": "hello from my_provider"}

class MyProviderRuntime(ProviderPluginRuntime):
    async def _on_initialize(self) -> None:
        if self.context.get("config").enabled:
            self.context.plugin_registry.register_service(
                "greeting", self.context.get("config").greeting, provider_plugin=self.name
            )

class MyProviderFactory(ProviderPluginFactory):
    runtime_class = MyProviderRuntime

    def __init__(self) -> None:
        manifest = PluginManifest(
            name="my_provider",
            version="1.0.0",
            is_provider=True,
            provides=["greeting"],
            config_class=MyProviderConfig,
        )
        super().__init__(manifest)

    def create_context(self, core_services):
        context = super().create_context(core_services)
        context["router"] = router
        return context

factory = MyProviderFactory()
"""


async def test_guide_skeleton_loads_from_local_directory_and_serves_its_route(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "plugins" / "my_provider"
    folder.mkdir(parents=True)
    (folder / "plugin.py").write_text(textwrap.dedent(GUIDE_SKELETON))
    settings = Settings(
        plugin_dirs=[tmp_path / "plugins"], plugins={"my_provider": {"greeting": "hi there"}}
    )

    async with started_app(settings) as app, app_client(app) as client:
        hello = await client.get("/my_provider/hello")
        status = (await client.get("/api/plugins/status")).json()

    assert hello.status_code == 200
    assert hello.json() == {"message": "hello from my_provider"}
    [plugin] = status["plugins"]
    assert plugin["name"] == "my_provider"
    assert plugin["type"] == "provider"
    assert plugin["initialized"] is True
    assert plugin["source"] == "local"
    # The connected runtime ran: it registered the service with the configured value.
    assert status["services"] == {"greeting": "my_provider"}


async def test_skeleton_without_runtime_class_still_runs_with_the_default_runtime(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "bare"
    folder.mkdir()
    (folder / "plugin.py").write_text(
        textwrap.dedent(
            """
            from ccproxy.plugins import PluginManifest, ProviderPluginFactory

            class BareFactory(ProviderPluginFactory):
                def __init__(self):
                    super().__init__(PluginManifest(name="bare", is_provider=True))

            factory = BareFactory()
            """
        )
    )
    async with started_app(Settings(plugin_dirs=[tmp_path])) as app, app_client(app) as client:
        status = (await client.get("/api/plugins/status")).json()
    assert status["plugins"][0]["status"] == "initialized"
    assert status["plugins"][0]["type"] == "provider"
