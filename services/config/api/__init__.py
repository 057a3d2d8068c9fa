"""The HTTP surface's shared parts: DTOs, dependencies, authentication, error answers."""
