"""Stage `base_model`: the tiny model and its SFT, pretrained bases, sampling, and the
base model's measured fixed budgets."""
