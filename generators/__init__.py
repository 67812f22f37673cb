"""Event generators: the demo sample and the benchmarks' load, as upstream systems would publish."""
