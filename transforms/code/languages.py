"""The 12 core languages of the Clean-PR pipeline, by file extension.

Language names are the lowercase ids used in ``EDIT_FILE_TYPE.language`` and as Markdown
fence names: python, java, javascript, typescript, go, rust, c, cpp, csharp, php, ruby, kotlin.

Every function takes an optional ``extensions`` mapping (``".ext" -> language``) so a pipeline
option can replace ``LANGUAGE_BY_EXTENSION``. Extensions are looked up as written first, then
lowercased, so a mapping can tell ``.C`` (C++) from ``.c`` if it wants to.

A ``.h`` header is C by default; ``grammar_of(path, content)`` looks for C++-only syntax in
it so the C++ grammar parses C++ headers.
"""
from __future__ import annotations

import posixpath
import re
from typing import Mapping

from transforms.quality.code import code_file_reject_reason, is_generated_path, is_vendored_path

LANGUAGES = (
    "python", "java", "javascript", "typescript", "go", "rust",
    "c", "cpp", "csharp", "php", "ruby", "kotlin",
)

LANGUAGE_BY_EXTENSION: Mapping[str, str] = {
    ".py": "python", ".pyi": "python", ".pyw": "python",
    ".java": "java",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "typescript",
    ".go": "go",
    ".rs": "rust",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp", ".hh": "cpp", ".hpp": "cpp",
    ".hxx": "cpp", ".h++": "cpp", ".ipp": "cpp", ".tpp": "cpp", ".inl": "cpp",
    ".cs": "csharp",
    ".php": "php", ".phtml": "php",
    ".rb": "ruby", ".rake": "ruby", ".gemspec": "ruby",
    ".kt": "kotlin", ".kts": "kotlin",
}

FENCE_NAMES: Mapping[str, str] = {language: language for language in LANGUAGES}

DOCS_EXTENSIONS = frozenset({
    ".md", ".markdown", ".mdx", ".rst", ".txt", ".adoc", ".asciidoc", ".org", ".tex", ".rdoc", ".pod",
})
CONFIG_EXTENSIONS = frozenset({
    ".yml", ".yaml", ".toml", ".json", ".jsonc", ".json5", ".ini", ".cfg", ".conf", ".properties",
    ".editorconfig", ".env", ".lock", ".xml", ".plist", ".gradle", ".sbt", ".mk", ".cmake",
})
DOCS_DIRECTORIES = frozenset({"docs", "doc", "documentation", ".github", ".circleci", ".gitlab", ".devcontainer"})
# Basenames (lowercase, without extension) of project documents and build/repo configuration.
DOCS_OR_CONFIG_STEMS = frozenset({
    "license", "licence", "copying", "notice", "authors", "contributors", "maintainers", "changelog",
    "changes", "history", "news", "readme", "codeowners", "security", "code_of_conduct", "contributing",
    "makefile", "dockerfile", "containerfile", "vagrantfile", "procfile", "gemfile", "rakefile",
    "podfile", "brewfile", "jenkinsfile", "justfile", "cmakelists", "manifest",
})
DOTFILE_CONFIG = re.compile(r"^\.(?:git\w*|docker\w*|npm\w*|eslint\w*|prettier\w*|babel\w*|\w*rc)(?:\..*)?$")

# Syntax a C header can only contain if it is C++.
_CPP_HEADER_SYNTAX = re.compile(
    r"^\s*(?:namespace\b|template\s*<|class\s+\w+\s*[:{]|using\s+namespace\b|(?:public|private|protected)\s*:)"
    r"|\bstd::|#include\s*<(?:iostream|string|vector|memory|map|algorithm|utility|functional)>",
    re.MULTILINE,
)


def _extension(path: str) -> str:
    return posixpath.splitext(posixpath.basename(path.replace("\\", "/")))[1]


def language_of(path: str, extensions: Mapping[str, str] = LANGUAGE_BY_EXTENSION) -> str | None:
    """The core language of a file by its extension, or None when it is not one of them."""
    ext = _extension(path)
    if not ext:
        return None
    return extensions.get(ext) or extensions.get(ext.lower())


def grammar_of(path: str, content: str | None = None,
               extensions: Mapping[str, str] = LANGUAGE_BY_EXTENSION) -> str | None:
    """The tree-sitter grammar for a file: its language, except ``tsx`` for .tsx files and
    ``cpp`` for a C-mapped header whose ``content`` uses C++-only syntax."""
    language = language_of(path, extensions)
    ext = _extension(path).lower()
    if language == "typescript" and ext == ".tsx":
        return "tsx"
    if language == "c" and ext == ".h" and content and _CPP_HEADER_SYNTAX.search(content):
        return "cpp"
    return language


def fence_name(language: str | None) -> str:
    """The Markdown fence info string for a language ('' when unknown)."""
    if not language:
        return ""
    return FENCE_NAMES.get(language, language)


def is_docs_or_config(path: str) -> bool:
    """Documentation or configuration: .md/.rst/.txt, files under docs/ or .github/,
    .yml/.yaml/.toml/.json/.ini/.cfg, LICENSE, README, Makefile, Dockerfile, dotfiles like .gitignore."""
    parts = [p for p in path.replace("\\", "/").lower().split("/") if p]
    if not parts:
        return False
    if any(part in DOCS_DIRECTORIES for part in parts[:-1]):
        return True
    name = parts[-1]
    stem, ext = posixpath.splitext(name)
    if ext in DOCS_EXTENSIONS or ext in CONFIG_EXTENSIONS:
        return True
    if DOTFILE_CONFIG.match(name):
        return True
    if language_of(name) is not None:  # a source file named like a document (license.py) is code
        return False
    # LICENSE, LICENSE-MIT, README.de, CHANGELOG, Makefile, requirements-dev.in ...
    head = re.split(r"[-_.]", name, maxsplit=1)[0]
    return stem in DOCS_OR_CONFIG_STEMS or head in DOCS_OR_CONFIG_STEMS or head == "requirements"


def core_file_reject_reason(path: str, content: str | bytes | None = None, *,
                            extensions: Mapping[str, str] = LANGUAGE_BY_EXTENSION, **code_rules) -> str | None:
    """Why a changed file is not a core source file, or None when it is one.

    Reasons: ``not_code`` (no core language), ``docs_or_config``, then the StarCoder-style
    file rules of ``transforms.quality.code.code_file_reject_reason`` (``vendored``,
    ``generated``; with ``content`` also ``oversized``, ``binary``, ``long_lines`` ...);
    ``code_rules`` are passed on to it as thresholds.
    """
    if language_of(path, extensions) is None:
        return "not_code"
    if is_docs_or_config(path):
        return "docs_or_config"
    if content is None:
        if is_vendored_path(path):
            return "vendored"
        if is_generated_path(path):
            return "generated"
        return None
    return code_file_reject_reason(path, content, **code_rules)


def is_core_file(path: str, content: str | bytes | None = None, *,
                 extensions: Mapping[str, str] = LANGUAGE_BY_EXTENSION, **code_rules) -> bool:
    """True for a source file in one of the core languages that is neither docs/config nor
    vendored/generated (and, given ``content``, passes the StarCoder-style file rules)."""
    return core_file_reject_reason(path, content, extensions=extensions, **code_rules) is None
