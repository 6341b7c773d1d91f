"""Readers of prepared datasets: frame folders, HDF5 shards, ground-truth flow, videos."""
