"""Verus programs (issue 5): a Verus-aware parser, feature extraction and proof-task derivation.

``syntax`` parses ``verus! { ... }`` bodies into items, clauses, loops and proof statements;
``features`` counts the Verus features and escape hatches of a parsed program; ``tasks`` strips
proofs into proof-completion tasks, fingerprints specs + exec code and spots cheating candidates.
"""
