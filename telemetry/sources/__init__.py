"""Telemetry sources: direct scrape of Prometheus expositions, PromQL over the Prometheus HTTP
API, Kubernetes events and pod logs."""

from .base import Source
from .kubernetes import KubernetesSource, LogLines
from .prometheus_api import PrometheusSource
from .scrape import ScrapeSource

__all__ = ["KubernetesSource", "LogLines", "PrometheusSource", "ScrapeSource", "Source"]
