"""Pure logic for the Clean-PR pipeline: languages, Search/Replace blocks, tree-sitter, intent, rendering.

* ``languages``: the 12 core languages by extension, core-file and docs/config detection.
* ``search_replace``: build, apply, check, render and parse Search/Replace blocks.
* ``parse``: tree-sitter parsers, parse-error detection, definitions around edited lines.
* ``intent``: issue references in PR text and the sample's intent text.
* ``render``: the training text of an edit sample.
"""
