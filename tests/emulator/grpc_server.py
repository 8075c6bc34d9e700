"""The emulator's ClusterManager over gRPC, the transport google-cloud-container uses by default.

A ``grpc.server`` with a generic handler for ``google.container.v1.ClusterManager``: requests
are deserialised with the proto-plus types the client library ships, turned into the same
camelCase JSON the REST front end receives, and served by the same
:class:`~tests.emulator.state.GKEEmulatorState`; answers go back as protobuf. Errors are
``context.abort`` with the canonical status code, as Google's frontends send them.
Compute Engine has no gRPC API; it stays on the REST server.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from typing import Any

import grpc  # type: ignore[import-untyped]  # no stubs published
from google.cloud import container_v1

from tests.emulator.faults import ApiError
from tests.emulator.state import JSON, GKEEmulatorState, Recorded

SERVICE = "google.container.v1.ClusterManager"


def _to_json(message: Any) -> JSON:
    text = type(message).to_json(
        message,
        use_integers_for_enums=True,
        indent=None,
        always_print_fields_with_no_presence=False,
    )
    data: JSON = json.loads(text)
    return data


def _last(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _method(
    state: GKEEmulatorState,
    name: str,
    request_type: Any,
    response_type: Any,
    serve: Callable[[GKEEmulatorState, JSON], JSON],
) -> grpc.RpcMethodHandler:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        body = _to_json(request)
        with state.lock:
            state.requests.append(Recorded("GRPC", f"/{SERVICE}/{name}", body))
        try:
            answer = serve(state, body)
        except ApiError as exc:
            context.abort(grpc.StatusCode[exc.status], exc.message)
        return response_type.from_json(json.dumps(answer), ignore_unknown_fields=True)

    return grpc.unary_unary_rpc_method_handler(
        handle,
        request_deserializer=request_type.deserialize,
        response_serializer=response_type.serialize,
    )


def _handlers(state: GKEEmulatorState) -> grpc.GenericRpcHandler:
    c = container_v1
    methods = {
        "GetCluster": _method(
            state, "GetCluster", c.GetClusterRequest, c.Cluster, lambda s, b: s.get_cluster()
        ),
        "ListNodePools": _method(
            state,
            "ListNodePools",
            c.ListNodePoolsRequest,
            c.ListNodePoolsResponse,
            lambda s, b: s.list_pools(),
        ),
        "GetNodePool": _method(
            state,
            "GetNodePool",
            c.GetNodePoolRequest,
            c.NodePool,
            lambda s, b: s.get_pool(_last(b["name"])),
        ),
        "CreateNodePool": _method(
            state,
            "CreateNodePool",
            c.CreateNodePoolRequest,
            c.Operation,
            lambda s, b: s.create_pool(b),
        ),
        "DeleteNodePool": _method(
            state,
            "DeleteNodePool",
            c.DeleteNodePoolRequest,
            c.Operation,
            lambda s, b: s.delete_pool(_last(b["name"])),
        ),
        "SetNodePoolSize": _method(
            state,
            "SetNodePoolSize",
            c.SetNodePoolSizeRequest,
            c.Operation,
            lambda s, b: s.set_size(_last(b["name"]), b),
        ),
        "GetOperation": _method(
            state,
            "GetOperation",
            c.GetOperationRequest,
            c.Operation,
            lambda s, b: s.get_operation(_last(b["name"])),
        ),
    }
    return grpc.method_handlers_generic_handler(SERVICE, methods)


@contextmanager
def running_grpc_frontend(state: GKEEmulatorState) -> Iterator[str]:
    """Serve ClusterManager for ``state`` over plaintext gRPC; yields ``127.0.0.1:PORT``."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((_handlers(state),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None).wait(timeout=5)
