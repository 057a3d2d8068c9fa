"""The broker's server.properties: one KRaft node, broker and controller, on 127.0.0.1,
tuned for a fast start on a small machine."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from devstack.ports import LOOPBACK


def kafka_properties(
    port: int, cport: int | None, log_dir: Path, extra: Mapping[str, str]
) -> dict[str, str]:
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        # A static voter set: the controller port may change between runs.
        "controller.quorum.voters": f"1@{LOOPBACK}:{cport}",
        "listeners": f"PLAINTEXT://{LOOPBACK}:{port},CONTROLLER://{LOOPBACK}:{cport}",
        "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": "8",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        # 8 instead of 50: the first consumer group joins sooner on a fresh broker.
        "offsets.topic.num.partitions": "8",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "8",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # After a crash the new incarnation waits until the old one's session expires
        # (DUPLICATE_BROKER_REGISTRATION): 9 s by default, ~4 s with these.
        "broker.heartbeat.interval.ms": "1000",
        "broker.session.timeout.ms": "4000",
    }
    props.update(extra)
    return props
