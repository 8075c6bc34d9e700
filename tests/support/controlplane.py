"""The local control plane for tests: :mod:`ccc.devcluster.controlplane`, which ``make demo``
runs too. Re-exported here so tests keep one import path; the LeaderWorkerSet controller is
started on top by :func:`tests.support.lws.start_lws`."""

from __future__ import annotations

from ccc.devcluster.controlplane import (
    BIN_ENV,
    BINARIES,
    BUILD_SCRIPT,
    KWOK_NODE_ANNOTATION,
    REPO_ROOT,
    ControlPlane,
    ControlPlaneError,
    free_port,
    locate_binaries,
    processes_mentioning,
    start_control_plane,
    tail,
)

__all__ = [
    "BINARIES",
    "BIN_ENV",
    "BUILD_SCRIPT",
    "KWOK_NODE_ANNOTATION",
    "REPO_ROOT",
    "ControlPlane",
    "ControlPlaneError",
    "free_port",
    "locate_binaries",
    "processes_mentioning",
    "start_control_plane",
    "tail",
]
