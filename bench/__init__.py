"""Experiments: configs, run store, tables, figures and benchmarks of ufsn."""
