"""Model definitions, one module per model."""
