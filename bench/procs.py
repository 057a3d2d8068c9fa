"""Child processes of a bench run (services, fakes, baselines): start, wait ready, pause,
stop. The same class the tests use."""

from __future__ import annotations

from devstack.children import ChildProcess as Child

__all__ = ["Child"]
