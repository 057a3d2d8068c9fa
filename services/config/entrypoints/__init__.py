"""How work reaches the config service: HTTP routes, the projection consumer, commands."""
