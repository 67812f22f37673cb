"""One set of Kafka connection settings, in librdkafka's words, for both clients.

The service's settings give librdkafka's names (``bootstrap.servers``,
``security.protocol``, ``sasl.*``, ``ssl.*``: ``service.settings.kafka_client``);
the tools that still use kafka-python (the admin client, status, dead-letter
reading and re-driving) take them through ``kafka_python_options``, so a cluster's
brokers and credentials are configured once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: librdkafka setting -> kafka-python keyword, for what a connection needs.
_KAFKA_PYTHON = {
    "bootstrap.servers": "bootstrap_servers",
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "sasl.username": "sasl_plain_username",
    "sasl.password": "sasl_plain_password",
    "ssl.ca.location": "ssl_cafile",
    "ssl.certificate.location": "ssl_certfile",
    "ssl.key.location": "ssl_keyfile",
}


def kafka_python_options(client: Mapping[str, Any]) -> dict[str, Any]:
    """kafka-python keywords for the connection ``client`` describes (other settings, such as
    a librdkafka ``client.id``, are the caller's to give)."""
    unknown = sorted(set(client) - set(_KAFKA_PYTHON))
    if unknown:
        raise ValueError(f"no kafka-python equivalent for {', '.join(unknown)}")
    options = {_KAFKA_PYTHON[name]: value for name, value in client.items()}
    if "security_protocol" in options:
        options["security_protocol"] = options["security_protocol"].upper()
    return options
