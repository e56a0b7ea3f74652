"""synapse_core: the UI-free library behind synapse-tui (data, graph, training, export).

Nothing here imports textual or rich; heavy ML libraries are imported inside the functions
that need them, so ``import synapse_core`` stays fast.
"""

__version__ = "0.1.0"
