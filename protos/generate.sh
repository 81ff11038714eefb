#!/usr/bin/env bash
# Regenerate the devserver admin API code from protos/flyte_devserver/admin/v1/admin.proto.
#
#   protos/generate.sh            (uses $PYTHON, else .venv/bin/python, else python3; needs grpcio-tools)
#
# Output: flyte_remote_core/devserver/admin/_pb/{admin_pb2.py,admin_pb2.pyi,admin_pb2_grpc.py}
# (or $OUT). The Connect/ASGI side is written by hand in flyte_remote_core/devserver/admin/service.py against
# connectrpc's public ConnectASGIApplication/Endpoint/MethodInfo API (connectrpc 0.10 ships
# no protoc plugin in its wheel), exactly as generated *_connect.py modules do.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=${OUT:-flyte_remote_core/devserver/admin/_pb}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$PY" -m grpc_tools.protoc -I protos \
  --python_out="$TMP" --pyi_out="$TMP" --grpc_python_out="$TMP" \
  protos/flyte_devserver/admin/v1/admin.proto
mkdir -p "$OUT"
cp "$TMP"/flyte_devserver/admin/v1/admin_pb2.py "$TMP"/flyte_devserver/admin/v1/admin_pb2.pyi "$OUT"/
sed -e 's/^from flyte_devserver\.admin\.v1 import admin_pb2 as /from . import admin_pb2 as /' \
  "$TMP"/flyte_devserver/admin/v1/admin_pb2_grpc.py > "$OUT"/admin_pb2_grpc.py
[ -f "$OUT/__init__.py" ] || echo '"""Generated from protos/flyte_devserver/admin/v1/admin.proto by protos/generate.sh."""' > "$OUT/__init__.py"
echo "generated $OUT with $PY"
