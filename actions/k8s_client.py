"""The official ``kubernetes`` client, built from settings, and the few API groups actions use."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes import config as kube_config

from controlplane import ConfigError, Settings

__all__ = [
    "HASH_LABEL",
    "RESTARTED_AT",
    "REVISION",
    "REVISION_HISTORY",
    "Apis",
    "api_client",
    "template_hash",
]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
HASH_LABEL = "pod-template-hash"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
MIRROR = "kubernetes.io/config.mirror"


def api_client(
    host: str | None = None, kubeconfig: str | None = None, context: str | None = None
) -> client.ApiClient:
    """A client for ``host`` (plain HTTP(S), no credentials: a testbed) or from a kubeconfig."""
    configuration = client.Configuration()
    if host is not None:
        configuration.host = host.rstrip("/")
    elif kubeconfig is not None:
        try:
            kube_config.load_kube_config(
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
        except (OSError, kube_config.ConfigException) as exc:
            raise ConfigError(f"AIOPS_KUBECONFIG: cannot load {kubeconfig}: {exc}") from exc
    else:
        raise ConfigError("a Kubernetes client needs a host or a kubeconfig")
    return client.ApiClient(configuration)


def client_from_settings(settings: Settings) -> client.ApiClient:
    """``AIOPS_KUBE_HOST``, else ``AIOPS_KUBECONFIG``, else the testbed at ``AIOPS_TESTBED_URL``."""
    if settings.kube_host:
        return api_client(host=settings.kube_host)
    if settings.kubeconfig:
        return api_client(kubeconfig=settings.kubeconfig)
    return api_client(host=settings.testbed_url)


@dataclass(frozen=True)
class Apis:
    """The API groups actions call, sharing one client and one per-call timeout."""

    api: client.ApiClient
    core: client.CoreV1Api
    apps: client.AppsV1Api
    autoscaling: client.AutoscalingV2Api
    timeout_s: float

    @classmethod
    def of(cls, api: client.ApiClient, timeout_s: float) -> Apis:
        return cls(
            api,
            client.CoreV1Api(api),
            client.AppsV1Api(api),
            client.AutoscalingV2Api(api),
            timeout_s,
        )

    def dump(self, obj: Any) -> Any:
        """A client model as the JSON the API server sent."""
        return self.api.sanitize_for_serialization(obj)


def template_hash(template: dict[str, Any]) -> str:
    """A digest of a pod template, ignoring ``pod-template-hash`` (as the deployment controller's
    ``EqualIgnoreHash`` does), so a Deployment's template compares with its ReplicaSets'."""
    metadata = dict(template.get("metadata") or {})
    labels = {k: v for k, v in (metadata.get("labels") or {}).items() if k != HASH_LABEL}
    if labels:
        metadata["labels"] = labels
    else:
        metadata.pop("labels", None)
    canonical = json.dumps({**template, "metadata": metadata}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
