"""One module per benchmark command: the perf group and efficiency."""
