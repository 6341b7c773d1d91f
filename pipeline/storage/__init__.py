"""Storage layer: atomic writes, manifests, resume, claims, dataset paths, the flow code."""
