"""Operating the service: how far behind it is, whether it is fit to serve, its metrics."""
