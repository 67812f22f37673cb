"""The event-sourced model: each customer's append-only history of upstream facts.

Imports only the standard library and ``eventsourcing``; adapters depend on it, never
the reverse.
"""
