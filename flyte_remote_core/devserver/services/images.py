"""ImageService: every image "exists", so deploying builds nothing.

The devserver runs every image's tasks in its one configured Python (``--sdk-python``):
``GetImage`` answers with the image asked for as its fully qualified name.
"""

from __future__ import annotations

from connectrpc.request import RequestContext
from flyteidl2.imagebuilder import definition_pb2, payload_pb2
from flyteidl2.imagebuilder.service_connect import ImageService


class ImageServiceImpl(ImageService):
    async def get_image(
        self, request: payload_pb2.GetImageRequest, ctx: RequestContext
    ) -> payload_pb2.GetImageResponse:
        image = definition_pb2.Image(id=request.id, fqin=request.id.name)
        return payload_pb2.GetImageResponse(image=image)
