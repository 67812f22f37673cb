"""The HTTP API (and, later, the support console) over the read models."""
