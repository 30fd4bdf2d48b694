"""Stage `evaluate`: sampled accuracy and response length of each model, and its headline
metrics."""
