"""synapse_tui panes."""
