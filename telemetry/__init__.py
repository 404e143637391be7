"""Telemetry: sources (scrape, PromQL, events, logs), the windowed series store, the SLOReader."""

__all__: list[str] = []
