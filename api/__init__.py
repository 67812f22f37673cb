"""The HTTP API and the support agents' web console (``static/``) over the read models."""
