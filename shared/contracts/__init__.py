"""Versioned event contracts: the only coupling between services."""
