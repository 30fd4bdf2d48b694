"""hmpo: reproducible artifact of HMPO (Hybrid Median-length Policy Optimization)."""
