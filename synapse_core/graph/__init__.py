"""synapse_core.graph"""
