"""Bring existing topics' configs in line with shared/contracts/topics.py (idempotent).

Creating a topic sets its configs once; a topic made before a config was added (say
`retention.ms=-1` on a `make up` data folder from last month) would keep Kafka's default.
Kafka's AlterConfigs (the only config change aiokafka offers) replaces a topic's whole set
of overrides, so the current overrides are read first and kept: only the keys the code
names change, and an override someone else set (Strimzi's `min.insync.replicas`) stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.contracts.topics import TopicSpec

DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs v1+ `config_source`: an override set on the topic


class TopicConfigError(RuntimeError):
    pass


async def align_topic_configs(admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec]) -> list[str]:
    """Alter each topic whose overrides differ from its spec's; the names of those altered."""
    wanted = [spec for spec in specs if spec.config]
    if not wanted:
        return []
    current = await topic_overrides(admin, [spec.name for spec in wanted])
    changes = []
    for spec in wanted:
        overrides = current.get(spec.name, {})
        if spec.config.items() <= overrides.items():
            continue
        changes.append(
            ConfigResource(
                ConfigResourceType.TOPIC, spec.name, configs={**overrides, **spec.config}
            )
        )
    if not changes:
        return []
    for response in await admin.alter_configs(changes):
        _raise_on_errors(response.to_object())
    return [change.name for change in changes]


async def topic_overrides(
    admin: AIOKafkaAdminClient, names: Sequence[str]
) -> dict[str, dict[str, str]]:
    """Each topic's own config overrides (not broker defaults), by topic name."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    found: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        described = response.to_object()
        _raise_on_errors(described)
        for resource in described["resources"]:
            found[resource["resource_name"]] = {
                entry["config_names"]: entry["config_value"]
                for entry in resource["config_entries"]
                if _is_override(entry) and entry["config_value"] is not None
            }
    return found


def _is_override(entry: dict[str, Any]) -> bool:
    if "config_source" in entry:
        return bool(entry["config_source"] == DYNAMIC_TOPIC_CONFIG)
    return not entry.get("is_default", True)  # DescribeConfigs v0 (brokers before 4.0)


def _raise_on_errors(response: dict[str, Any]) -> None:
    for resource in response.get("resources", []):
        if resource.get("error_code"):
            raise TopicConfigError(
                f"{resource.get('resource_name')}: error {resource['error_code']}"
                f" {resource.get('error_message') or ''}".rstrip()
            )
