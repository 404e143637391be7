"""Kubernetes API plumbing of the testbed: serialization, patches, selectors, quantities."""
