"""The simulated Kubernetes cluster the control plane is tested against (see docs/testbed.md)."""
