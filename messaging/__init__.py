"""Kafka clients as every part of the service uses them (librdkafka through confluent-kafka)."""
