"""The data steps: extract, tvl1, shards, splits, all, check, verify."""
