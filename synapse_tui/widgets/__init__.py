"""synapse_tui widgets."""
