"""Stage `train`: the rewards, the GRPO trainer that uses them, the method dispatch and the
multi-stage baseline."""
