"""ccc's CRDs on a local control plane: :mod:`ccc.devcluster.crds`, re-exported for tests."""

from __future__ import annotations

from ccc.devcluster.crds import apply_ccc_crds, crd_established

__all__ = ["apply_ccc_crds", "crd_established"]
