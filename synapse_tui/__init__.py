"""synapse_tui: the Textual dashboard over synapse_core."""
