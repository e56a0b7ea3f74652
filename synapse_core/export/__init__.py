"""synapse_core.export"""
