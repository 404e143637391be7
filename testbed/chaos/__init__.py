"""``testbed.chaos``: a Chaos Toolkit extension for the testbed's fault library.

Experiments (``testbed/chaos/experiments/``, one per fault of :data:`testbed.faults.FAULTS`) make
their change the way it would be made on a real cluster: through the Kubernetes API with
``chaostoolkit-kubernetes`` (scaling, deleting pods, cordoning, Chaos Mesh objects), declaring
the ground truth with :func:`testbed.chaos.actions.declare_fault`; what the Kubernetes API
cannot express (a memory leak, a node's kubelet dying, a load flood ...) the testbed applies
itself through :func:`testbed.chaos.actions.inject_fault`.

Modules:

- :mod:`testbed.chaos.actions`: declare, inject and clear faults (``/testbed/faults``, truth
  token required), and the Kubernetes "bad patch" actions ``chaostoolkit-kubernetes`` lacks
  (a Service's ``targetPort``, a node selector, a CPU limit, a rotated password, ``kubectl
  rollout undo``) with their restore actions.
- :mod:`testbed.chaos.probes`: the service level objective of a service, measured on the
  testbed's ``/metrics`` as an operator's Prometheus would (``slo_met``, ``slo_report``).

The testbed's address comes from the experiment's ``configuration`` (``testbed_url``), the truth
token from its ``secrets`` (``testbed`` → ``truth_token``); the Kubernetes client is
``chaosk8s.create_k8s_api_client`` (``KUBERNETES_HOST`` or a kubeconfig). Probes never read the
ground truth nor the Chaos Mesh objects: they watch what an operator would.

``chaos discover testbed.chaos`` lists the activities with their arguments.
"""

from importlib.metadata import PackageNotFoundError, version

from chaoslib.discovery.discover import (
    discover_actions,
    discover_probes,
    initialize_discovery_result,
)
from chaoslib.types import Discovery

try:
    __version__ = version("aiops-controlplane")
except PackageNotFoundError:  # run from a source tree that is not installed
    __version__ = "unknown"

__all__ = ["__version__", "discover"]


def discover(discover_system: bool = True) -> Discovery:
    """The activities this extension offers (the testbed has no system to discover)."""
    discovery = initialize_discovery_result("testbed.chaos", __version__, "testbed")
    discovery["activities"].extend(discover_actions("testbed.chaos.actions"))
    discovery["activities"].extend(discover_probes("testbed.chaos.probes"))
    return discovery
