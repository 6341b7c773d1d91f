"""One module per ufsn-bench command."""
