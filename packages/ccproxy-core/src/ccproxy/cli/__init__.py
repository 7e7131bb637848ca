"""The ``ccproxy`` command line (typer).

Modules here import only typer and the standard library at import time; commands import the
app, the settings model and uvicorn when they run, so that ``ccproxy --version`` and
``ccproxy --help`` stay fast and import no plugin.
"""
