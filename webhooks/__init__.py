"""Alerts and segment changes to HTTPS endpoints admins register: signed, retried, logged."""
