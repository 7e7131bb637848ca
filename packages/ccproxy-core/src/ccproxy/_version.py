"""The version of ccproxy-core (kept in step with pyproject.toml by the release tooling)."""

__version__ = "1.0.0"
