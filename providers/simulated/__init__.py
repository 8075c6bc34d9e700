"""A simulated cloud for tests, ``ccc simulate``, the kwok provider and benchmarks.

See :mod:`providers.simulated.cloud` for the behaviour and docs/design/004-simulated-cloud.md
for the decisions behind it. :mod:`providers.simulated.traces` turns availability traces into
capacity scripts; :mod:`providers.simulated.trace_csv` is the generic CSV format and
:mod:`providers.simulated.trace_sources` the named data sets and the ``--trace`` registry
(docs/simulate.md).
"""

from providers.simulated.cloud import SimulatedCloud
from providers.simulated.faults import ErrorRule
from providers.simulated.ledger import quota_metrics
from providers.simulated.model import Call, Disruption, DisruptionKind, PoolShape, SimNode
from providers.simulated.timeline import Timeline, When

__all__ = [
    "Call",
    "Disruption",
    "DisruptionKind",
    "ErrorRule",
    "PoolShape",
    "SimNode",
    "SimulatedCloud",
    "Timeline",
    "When",
    "quota_metrics",
]
