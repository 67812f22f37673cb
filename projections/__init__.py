"""Read models folded from the customer history: one module per read model."""
