"""Data pipeline of ufsn: videos -> frames -> TV-L1 flow -> HDF5 shards and splits."""
