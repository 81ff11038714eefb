"""The SDK execution path: deployed Flyte 2 task specs run the way a Flyte 2 backend runs them.

``python`` decides which interpreter runs a spec (``--sdk-python``, else the devserver's own
when it can import ``flyte``); ``spec`` fills a container's ``{{.x}}`` placeholders, builds the
runtime's environment and reads ``outputs.pb`` / ``error.pb`` back; ``runner`` runs each attempt
as a subprocess (its own process group, its log file, a timeout, a worker limit).

The official SDK is never imported here: it runs in the subprocess, in the user's environment.
"""
