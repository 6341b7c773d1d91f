"""Stage 1: the flow estimator, its ops and losses, training and evaluation."""
