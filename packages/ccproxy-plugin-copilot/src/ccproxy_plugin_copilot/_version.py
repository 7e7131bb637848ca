"""The version of ccproxy-plugin-copilot (kept in step with pyproject.toml by the release tooling)."""

__version__ = "0.1.0"
