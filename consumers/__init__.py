"""Kafka ingestion: receive, validate, hand to the customer history, dead-letter the rest.

Thin by design: business rules live in ``domain/``, the wire contract in ``schemas/``.
"""
