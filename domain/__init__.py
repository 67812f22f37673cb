"""The pure rules of the CRM: stored facts, the customer 360, loyalty, complaint SLAs,
calendars, merge groups, alerts and personal data.

Imports only the standard library (``tests/unit/test_layers.py`` checks it): the
history that stores facts (``history/``), the adapters and the entry points depend
on it, never the reverse.
"""
