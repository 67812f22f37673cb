"""Alerts leaving the service: the relay from the transactional outbox to Kafka."""
