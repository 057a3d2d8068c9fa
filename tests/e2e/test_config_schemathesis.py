"""schemathesis against the running config service's /openapi.json: no request, valid or
not, gets a 5xx, and every answer has a documented status and shape — as a tenant and as an
administrator. Bounded: a few examples per operation.

schemathesis' own pytest plugin (`from_fixture`) does not run on pytest 9, so each
operation's hypothesis strategy is driven here directly.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

EXAMPLES = 5  # per operation and mode: ~200 requests in all
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def _fuzz(schema: Any, headers: dict[str, str]) -> list[str]:
    """Valid and invalid requests to every operation of `schema`; the failures, readable."""
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in MODES:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case[Any]) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS, timeout=10)

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:
                name = f"{operation.method.upper()} {operation.path} ({mode.value})"
                failures.append(f"{name}: {exc}"[:2000])
    assert operations, "the schema filter matched no operation"
    return failures


def test_tenant_routes_never_answer_5xx(stack: Stack) -> None:
    schema = schemathesis.openapi.from_url(stack.config.url + "/openapi.json")
    tenant = stack.user(uuid.UUID(int=0xC0FFEE))
    failures = _fuzz(schema.include(path_regex=r"^/v1/me/"), tenant)
    assert not failures, "\n\n".join(failures)


def test_admin_routes_never_answer_5xx(stack: Stack) -> None:
    # Read-only: writing the system fallback would change what later tests run against
    # (its handlers are the tenant's, fuzzed above; the isolation matrix covers its auth).
    schema = schemathesis.openapi.from_url(stack.config.url + "/openapi.json")
    admin = schema.include(path_regex=r"^/v1/(admin|system)/", method="GET")
    failures = _fuzz(admin, stack.admin())
    assert not failures, "\n\n".join(failures)
