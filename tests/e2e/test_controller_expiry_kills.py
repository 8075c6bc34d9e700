"""End to end: ``kill -9`` of ``ccc run`` at random points of a flex-start replacement and drain
on the real control plane (kube-apiserver, kube-controller-manager with its Deployment,
ReplicaSet and disruption controllers, kube-scheduler) with KWOK nodes from the kwok provider.

A few kills keep this cheap; ``benchmarks/chaos.py expiry-kills`` runs the same rounds until 20
or more kills landed during replacement and drain (docs/benchmarks.md). GKE rules encoded:
gke-computeclass.md §4 (flex-start nodeRecycling: create before delete);
/work/shared/reference/lifecycle-and-serving.md A1 (recycling) and A4 (drains within PDBs).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.e2e.controller_harness import install_crd
from tests.e2e.expiry_kills import expiry_kill_round
from tests.support.controlplane import ControlPlane
from tests.support.kube import api_client

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]


async def test_kills_during_replacement_and_drain_leave_no_double_drain_leak_or_pdb_violation(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    """Two 8-GPU replicas (PDB minAvailable 1) on expiring flex-start nodes; controllers are
    killed while the nodes are replaced (stocked-out flex-start, so on-demand), cordoned,
    drained and deleted; a final controller must finish the job."""
    seed = random.randrange(1 << 30)
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
        got = await expiry_kill_round(api, cluster, tmp_path, kills=5, seed=seed)
    where = f"seed {seed}: {got}"
    assert got.killed_while_running == got.kills, where
    assert got.during >= 1, f"no kill landed during replacement or drain: {where}"
    assert got.converged_s is not None, f"{where}\nfinal controller log:\n{got.log_tail}"
    assert got.double_drains == (), where
    assert got.pdb_violations == 0, where
    assert got.old_left == () and got.lost == 0, where
    assert got.leaks == 0, where
    assert got.ok
