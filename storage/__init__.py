"""Storage adapters: the customer history's recorders and the read-model database.

One module per backend (``postgres``, ``sqlite``) implementing the domain's
:class:`~history.recorder.HistoryRecorder`, and ``views`` for read models, which
write their rows and tracking positions in one transaction on either backend.
"""
