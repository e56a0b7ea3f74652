"""The knowledge graph of a dataset's ``<kg>`` triplets (UI-free).

``normalize`` (entity and predicate keys), ``build`` (``KnowledgeGraph``, incremental, with
per-edge row provenance), ``queries`` (search, neighbours, paths, rankings, components,
samples), ``ego`` (an entity's neighbourhood shaped for drawing), ``health`` (coverage,
concentration, contradictions), ``export`` (GraphML, node-link JSON), ``cli``
(``synapse graph``). Nothing is imported here, so ``synapse --help`` stays fast.
"""
