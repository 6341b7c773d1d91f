"""One module per ufsn-data command; shared options in options.py."""
