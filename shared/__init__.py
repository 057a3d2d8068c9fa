"""Code every service shares: event contracts, settings, telemetry, DB and Kafka plumbing."""
