"""Benchmarks and profiles: perf extract/loader/memory/train/tvl1/flow, the efficiency table's measurements."""
