"""The embedded demo: a bundled sample dataset and a tiny Pixtral-architecture model."""
