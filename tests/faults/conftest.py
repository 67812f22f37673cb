"""The integration tests' service fixtures, for the control run of the checker."""

from tests.integration.conftest import pg_service, postgres_store  # noqa: F401
