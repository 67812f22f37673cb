"""The customer history: the event-sourced application every fact is recorded in.

Between the pure domain and the adapters: it de-duplicates arrivals, records them with
their source positions in one transaction (``HistoryWrite``), and seals personal fields
so an erasure request can shred them.
"""
