"""Input and output schemas: validation, example records and DataFrame conversion."""
