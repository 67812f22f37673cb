"""The wire contract: CloudEvents 1.0 envelopes and version-1 payloads of every CRM event.

Imports only pydantic and the standard library. Published as JSON Schema in
``schemas/json/`` (``python -m schemas.export``) for upstream teams.
"""
