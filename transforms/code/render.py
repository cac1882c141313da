"""The training text of an edit sample: intent, current files, target Search/Replace blocks.

Layout (Agentless's editing prompt, with the target appended)::

    --- BEGIN ISSUE ---
    <intent>
    --- END ISSUE ---

    --- BEGIN FILES ---
    ### path/a.py
    ```python
    <current contents>
    ```
    --- END FILES ---

    --- BEGIN EDITS ---
    <render_blocks(blocks)>        or  "No changes needed."
    --- END EDITS ---
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

from transforms.code.languages import fence_name, language_of as default_language_of
from transforms.code.search_replace import Block, fence_for, render_blocks

NO_CHANGES = "No changes needed."
NEW_FILE = "(new file)"


def render_file(path: str, content: str | None,
                language_of: Callable[[str], str | None] = default_language_of) -> str:
    """``### path`` and the contents in a fence long enough for the backticks inside them;
    ``(new file)`` when the file does not exist yet (``content`` None)."""
    if content is None:
        return f"### {path}\n{NEW_FILE}\n"
    fence = fence_for(content)
    body = content if not content or content.endswith("\n") else content + "\n"
    return f"### {path}\n{fence}{fence_name(language_of(path))}\n{body}{fence}\n"


def render_edit_sample(intent: str, files: Mapping[str, str | None] | Iterable[tuple[str, str | None]],
                       blocks: Iterable[Block],
                       language_of: Callable[[str], str | None] = default_language_of) -> str:
    """The sample text: intent, each file (path -> current contents, in the given order), then the blocks."""
    items = files.items() if isinstance(files, Mapping) else files
    rendered_files = "\n".join(render_file(path, content, language_of) for path, content in items)
    edits = render_blocks(list(blocks), language_of) or NO_CHANGES + "\n"
    return (
        f"--- BEGIN ISSUE ---\n{intent.strip()}\n--- END ISSUE ---\n\n"
        f"--- BEGIN FILES ---\n{rendered_files}--- END FILES ---\n\n"
        f"--- BEGIN EDITS ---\n{edits}--- END EDITS ---\n"
    )
