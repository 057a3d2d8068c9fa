"""`make bench`: throughput, latency and cost per message, against baselines in the same run."""
