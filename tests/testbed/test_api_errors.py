"""Bad input to the testbed's Kubernetes API: the ``Status`` errors the real API server answers.

Unknown resources and objects (404), invalid objects naming the field (422), stale
``resourceVersion`` (409), unsupported patch types (415), bodies that are not JSON (400), creates
of existing objects (409 ``AlreadyExists``); HTTP-level cases use ``httpx`` directly.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from kubernetes import client
from kubernetes.client import ApiException

from testbed.runner import TestbedServer

from .api_helpers import NS, app_pods, image_patch, status_body


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/namespaces/hotel/widgets",
        "/apis/apps/v1/namespaces/hotel/statefulsets",
        "/apis/batch/v1/jobs",
        "/api/v2/pods",
        "/apis/apps/v1/namespaces/hotel/deployments/search/rollback",
    ],
)
def test_unknown_resource_is_404_with_a_status_body(server: TestbedServer, path: str) -> None:
    response = httpx.get(server.url + path, timeout=10)
    assert response.status_code == 404
    body = response.json()
    assert body["kind"] == "Status"
    assert body["status"] == "Failure"
    assert body["reason"] == "NotFound"
    assert body["code"] == 404


def test_unknown_object_is_404(
    core: client.CoreV1Api, apps: client.AppsV1Api, custom: client.CustomObjectsApi
) -> None:
    for call in (
        lambda: core.read_namespaced_pod("nope", NS),
        lambda: core.read_namespaced_service("nope", NS),
        lambda: apps.read_namespaced_deployment("nope", NS),
        lambda: apps.patch_namespaced_deployment("nope", NS, {"spec": {"replicas": 1}}),
        lambda: apps.read_namespaced_deployment_scale("nope", NS),
        lambda: core.delete_namespaced_pod("nope", NS),
        lambda: core.read_namespace("nope"),
        lambda: custom.get_namespaced_custom_object(
            "chaos-mesh.org", "v1alpha1", NS, "podchaos", "nope"
        ),
    ):
        with pytest.raises(ApiException) as err:
            call()
        assert err.value.status == 404
        body = status_body(err.value)
        assert body["reason"] == "NotFound"
        assert '"nope" not found' in body["message"]


@pytest.mark.parametrize(
    ("patch", "field", "words"),
    [
        ({"spec": {"replicas": -1}}, "spec.replicas", "greater than or equal to 0"),
        ({"spec": {"replicas": "three"}}, "spec.replicas", "Invalid value"),
        (image_patch("search", ""), "spec.template.spec.containers[0].image", "Invalid value"),
        (
            {"spec": {"selector": {"matchLabels": {"app": "search", "tier": "service"}}}},
            "spec.selector",
            "field is immutable",
        ),
        (
            {"spec": {"selector": {"matchLabels": {"app": "other"}}}},
            "spec.template.metadata.labels",
            "does not match",
        ),
        (
            {"spec": {"strategy": {"rollingUpdate": {"maxSurge": "lots"}}}},
            "spec.strategy.rollingUpdate.maxSurge",
            "Invalid value",
        ),
    ],
)
def test_invalid_deployment_patch_is_422_naming_the_field(
    apps: client.AppsV1Api, patch: dict[str, Any], field: str, words: str
) -> None:
    before = apps.read_namespaced_deployment("search", NS)
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("search", NS, patch)
    assert err.value.status == 422
    body = status_body(err.value)
    assert body["reason"] == "Invalid"
    assert f"{field}: " in body["message"]
    assert words in body["message"]
    assert body["details"]["causes"][0]["field"] == field
    after = apps.read_namespaced_deployment("search", NS)
    assert after.metadata.resource_version == before.metadata.resource_version
    assert after.spec == before.spec


def test_invalid_scale_is_422(apps: client.AppsV1Api) -> None:
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment_scale("search", NS, {"spec": {"replicas": -2}})
    assert err.value.status == 422
    assert "spec.replicas" in status_body(err.value)["message"]
    assert apps.read_namespaced_deployment("search", NS).spec.replicas == 2


def test_invalid_service_and_node_patches_are_422(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_service(
            "geo", NS, {"spec": {"ports": [{"port": 8083, "targetPort": 70000}]}}
        )
    assert err.value.status == 422
    assert "spec.ports[0].targetPort" in status_body(err.value)["message"]
    with pytest.raises(ApiException) as err:
        core.patch_node("general-000", {"spec": {"unschedulable": "yes"}})
    assert err.value.status == 422
    assert "spec.unschedulable" in status_body(err.value)["message"]
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_pod(
            app_pods(core, "geo")[0].metadata.name, NS, {"spec": {"nodeName": "general-003"}}
        )
    assert err.value.status == 422


def test_stale_resource_version_is_409(apps: client.AppsV1Api, core: client.CoreV1Api) -> None:
    current = apps.read_namespaced_deployment("search", NS)
    stale = str(int(current.metadata.resource_version) - 1)
    patch = {"metadata": {"resourceVersion": stale}, "spec": {"replicas": 3}}
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("search", NS, patch)
    assert err.value.status == 409
    body = status_body(err.value)
    assert body["reason"] == "Conflict"
    assert "the object has been modified" in body["message"]
    assert apps.read_namespaced_deployment("search", NS).spec.replicas == 2

    scale = apps.read_namespaced_deployment_scale("search", NS)
    scale.metadata.resource_version = stale
    with pytest.raises(ApiException) as err:
        apps.replace_namespaced_deployment_scale("search", NS, scale)
    assert err.value.status == 409

    svc = core.read_namespaced_service("geo", NS)
    svc.metadata.resource_version = "1"
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_service("geo", NS, svc)
    assert err.value.status == 409

    fresh = {"metadata": {"resourceVersion": current.metadata.resource_version}}
    patched = apps.patch_namespaced_deployment("search", NS, fresh | {"spec": {"replicas": 3}})
    assert patched.spec.replicas == 3


@pytest.mark.parametrize(
    "path",
    [
        "/apis/apps/v1/namespaces/hotel/deployments/search",
        "/apis/apps/v1/namespaces/hotel/deployments/search/scale",
        "/api/v1/nodes/general-000",
    ],
)
@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("application/xml", json.dumps({"spec": {"replicas": 3}})),
        ("application/json", json.dumps({"spec": {"replicas": 3}})),
        ("application/yaml", "spec:\n  replicas: 3\n"),
    ],
    ids=["xml", "json", "yaml"],
)
def test_unsupported_patch_content_type_is_415(
    server: TestbedServer, path: str, content_type: str, content: str
) -> None:
    response = httpx.patch(
        server.url + path,
        content=content,
        headers={"Content-Type": content_type},
        timeout=10,
    )
    assert response.status_code == 415
    body = response.json()
    assert body["kind"] == "Status"
    assert body["reason"] == "UnsupportedMediaType"
    assert "application/strategic-merge-patch+json" in body["message"]


@pytest.mark.parametrize(
    ("method", "path", "content_type"),
    [
        (
            "PATCH",
            "/apis/apps/v1/namespaces/hotel/deployments/search",
            "application/merge-patch+json",
        ),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/hotel/deployments/search/scale",
            "application/json-patch+json",
        ),
        ("PUT", "/api/v1/namespaces/hotel/services/geo", "application/json"),
        ("POST", "/api/v1/namespaces/hotel/services", "application/json"),
        ("POST", "/api/v1/namespaces/hotel/pods/x/eviction", "application/json"),
    ],
)
def test_body_that_is_not_json_is_400(
    server: TestbedServer, method: str, path: str, content_type: str
) -> None:
    response = httpx.request(
        method,
        server.url + path,
        content=b"{this is not json",
        headers={"Content-Type": content_type},
        timeout=10,
    )
    assert response.status_code == 400
    body = response.json()
    assert body["kind"] == "Status"
    assert body["reason"] == "BadRequest"
    assert "not valid JSON" in body["message"]


def test_create_of_an_existing_object_is_409_already_exists(
    core: client.CoreV1Api, apps: client.AppsV1Api
) -> None:
    existing = apps.read_namespaced_deployment("search", NS)
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="search"),
        spec=existing.spec,
    )
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment(NS, body)
    assert err.value.status == 409
    status = status_body(err.value)
    assert status["reason"] == "AlreadyExists"
    assert status["message"] == 'deployments.apps "search" already exists'

    service = client.V1Service(
        metadata=client.V1ObjectMeta(name="geo"),
        spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)]),
    )
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service(NS, service)
    assert err.value.status == 409
    assert status_body(err.value)["reason"] == "AlreadyExists"


def test_method_not_allowed_is_405(server: TestbedServer) -> None:
    response = httpx.delete(server.url + "/api/v1/nodes/general-000", timeout=10)
    assert response.status_code == 405
    assert response.json()["reason"] == "MethodNotAllowed"
