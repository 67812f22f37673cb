"""The composition root and command line: wires adapters to the domain from settings."""
