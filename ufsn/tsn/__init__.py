"""The two streams: backbones, clip data, stages 2-3 and the test protocol."""
