"""Exports for analysts: facts, customers, segments and reports as files SQL engines read
(Parquet, NDJSON, CSV), streamed in batches with bounded memory."""
