"""Errors that entry points report as a one-line message instead of a traceback."""

from __future__ import annotations


class DevstackError(Exception):
    """Base class: the message is meant for the user, as is."""

    exit_code = 1


class PrerequisiteMissing(DevstackError):
    """A tool we need (Java, Maven, PostgreSQL binaries, ...) is not installed."""

    exit_code = 2


class ConfigError(DevstackError):
    """A setting from the environment is invalid, or a resource is taken."""

    exit_code = 2


class StartupError(DevstackError):
    """A process failed to start (the message carries the tail of its log)."""

    exit_code = 1
