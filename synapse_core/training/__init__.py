"""The training engine: runs a fine-tuning job and reports every step as events."""
