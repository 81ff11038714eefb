"""Generated from protos/flyte_devserver/admin/v1/admin.proto by protos/generate.sh."""
