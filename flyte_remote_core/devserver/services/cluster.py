"""ClusterService: one cluster, the devserver itself."""

from __future__ import annotations

from connectrpc.request import RequestContext
from flyteidl2.cluster import payload_pb2 as cluster_pb2
from flyteidl2.cluster.service_connect import ClusterService


class ClusterServiceImpl(ClusterService):
    async def select_cluster(
        self, request: cluster_pb2.SelectClusterRequest, ctx: RequestContext
    ) -> cluster_pb2.SelectClusterResponse:
        # An empty endpoint means "use the endpoint you are already talking to".
        return cluster_pb2.SelectClusterResponse(cluster_endpoint="", cluster="devserver")
