"""Demo partner agencies with synthetic people."""
