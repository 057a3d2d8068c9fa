"""Real HTTP servers that speak third-party wire protocols, for tests and keyless demos."""
