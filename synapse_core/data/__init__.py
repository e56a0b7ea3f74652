"""synapse_core.data"""
