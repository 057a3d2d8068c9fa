"""In-memory read models of configuration, fed by shared.config_feed."""
