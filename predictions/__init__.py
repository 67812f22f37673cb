"""Predictions over the customer history: models fitted outside the projection loop,
kept versioned, and scored as of any moment."""
