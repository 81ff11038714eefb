"""The flyteidl2 services the devserver implements, one module each.

Each service turns requests into calls on the engine's collaborators and their
answers into responses; none of them touches the store. ``uploads`` serves the
signed URLs DataProxyService hands out. ``identity`` and ``auth_metadata`` answer
while auth is off (with ``--auth`` the ``auth`` room serves both).
"""
