"""The synthetic dataset: scenes with exact flow, clips, presets."""
