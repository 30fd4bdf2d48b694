"""Stage `data` and the task contract: problems (synthetic, reasoning-gym, benchmarks), the
prompt template with its answer parser, and the rule-based verifier."""
