"""Upward synchronisation to the national sector database (issue 8): the audit events of synced
types are the outbox; a relay pushes the current state of each changed record through the
``UpstreamSectorDB`` port (``sync.upstream``)."""
