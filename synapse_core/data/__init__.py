"""The data domain: load, parse, score, label, banned words, review decisions, training set.

``load.iter_rows`` streams Records/BadLines; ``reasoning.parse_reasoning`` parses a reasoning
block; ``scoring`` and ``bias`` hold the metrics; ``banned`` the banned-word matcher and the
generation-time token ids; ``decisions`` the review sidecar; ``prepare`` the TRL rows;
``table`` the browser's column store; ``cli`` ``synapse score``. See docs/data.md.
"""
