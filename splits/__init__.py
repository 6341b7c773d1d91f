"""Declarative split definitions (TOML), one per dataset, read with importlib.resources."""
