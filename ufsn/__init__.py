"""The UF-TSN model: unsupervised flow estimator, losses, two-stream TSN and training loops."""
