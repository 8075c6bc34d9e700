"""ccc: a capacity-obtainability controller for accelerator workloads on Kubernetes.

Layers (see docs/design/001-architecture.md): ``ccc.cli`` -> ``ccc.controller`` ->
``policies`` / ``providers`` -> ``ccc.api``.
"""

__version__ = "0.1.0"
