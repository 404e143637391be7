"""Correlation: signals become incidents, persisted through the store.

A signal joins an unresolved incident when

- it is about one of the incident's own services (same namespace, when both name one) or
  nodes (a node signal joined it): at any time while the incident is unresolved, since detectors
  signal once per episode and a second incident on the same target would have two remediations
  fight over it;
- or, when the incident's newest signal is at most ``window_s`` older, its service is a
  call-graph neighbour of one of the incident's services or calls the same shared dependency (a
  database) as one of them, or it shares infrastructure with the incident: a signal on a node
  that hosts one of the incident's services, or on a service whose pods run on a node the
  incident implicates.

So a node failure (the node's own signals and those of every service with pods there) is one
incident. When a signal matches several incidents the oldest takes it and absorbs the others that
no one has acted on yet (``open`` or ``diagnosing``: resolved as merged, signals moved). Within a
batch node signals go first, so a tick's node failure opens one incident outright.

A signal with the same detector and series as one already in an incident, seen within
``duplicate_window_s`` of its last sighting, is a duplicate: the first one's count grows. A
signal whose id is already stored (a replayed batch) changes nothing.

A signal that joins no unresolved incident reopens the most recently resolved incident on the same
service or node, resolved at most ``reopen_window_s`` before it; otherwise it opens a new one.

Severity follows SLO impact and only rises: ``critical`` when a service's burn rate exceeds its
SLO's fast-burn threshold, ``high`` when its SLO is violated, ``medium`` otherwise, ``low`` while
the incident holds nothing but capacity warnings.

:meth:`Correlator.ingest` takes a tick's signals and writes them in one transaction. The
correlator keeps its working set (the incidents signals may join, indexed by service, node, host
node and dependency) between batches and refreshes it from the database at the start of each,
re-indexing only the incidents that changed, so other writers (agents moving incidents through
their states) are always seen.
"""

from controlplane.correlation.correlator import Correlator, IngestResult
from controlplane.correlation.severity import DEFAULT_FAST_BURN, severity_for

__all__ = ["DEFAULT_FAST_BURN", "Correlator", "IngestResult", "severity_for"]
