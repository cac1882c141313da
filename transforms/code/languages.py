"""The 12 core languages of the Clean-PR pipeline, by file extension.

Language names are the lowercase ids used in ``EDIT_FILE_TYPE.language`` and as Markdown
fence names: python, java, javascript, typescript, go, rust, c, cpp, csharp, php, ruby, kotlin.

Every function takes an optional ``extensions`` mapping (``".ext" -> language``) so a pipeline
option can replace ``LANGUAGE_BY_EXTENSION``. Extensions are looked up as written first, then
lowercased, so a mapping can tell ``.C`` (C++) from ``.c`` if it wants to.

A ``.h`` header is C by default; ``grammar_of(path, content)`` looks for C++-only syntax in
it so the C++ grammar parses C++ headers.

Which changed files are core (``core_file_reject_reason``), in this order:

* ``not_code``: no core language by extension.
* ``docs_or_config``: documentation or configuration (``is_docs_or_config``): docs/config
  extensions, dotfiles, project documents (LICENSE, README ...; a source file named like one,
  ``license.py``, is code), files under ``docs/``, ``doc/``, ``documentation/`` at any depth or
  a directory of Linguist's ``documentation.yml`` (``^docs?/``, ``^examples/``, ``^samples?/``,
  ``^demos?/``, ``^man/``, ``(^|/)javadoc/`` ...; ``transforms.code.linguist``), and the
  configuration directories ``.github/``, ``.circleci/``, ``.gitlab/``, ``.devcontainer/``.
  Except a *source package* living in a documentation directory (``in_source_package``), which
  is code: a Go file whose package clause is not ``main`` (``x_test`` counts as ``x``) and
  that is not a test file, or is one beside a non-test Go file (a test of a real package); a
  Python file in a directory with ``__init__.py`` (not ``conf.py``: Sphinx configuration and
  ``docs/_ext/*.py`` helpers stay documentation); a Rust file with a ``Cargo.toml`` in its
  directory or above it inside the documentation directory. Marker files come from the
  ``context`` (read from the clone at the PR's base and head commits) and the PR's own files.
* ``vendored``: Linguist's ``vendor.yml`` patterns, the StarCoder-style ones of
  ``transforms.quality.code`` (``site-packages/``, ``.venv/``, ``*.bundle.js`` ...), ``_vendor/``
  and ``vendored/`` directories, and a well-known Python library vendored inside another
  package (``requests/packages/urllib3/``, ``botocore/vendored/requests/``,
  ``sklearn/externals/joblib/``: ``VENDORED_PYTHON_LIBRARY``).
* ``generated``: lock files and generated-source names, then (with contents) the generated
  markers of ``transforms.quality.code``.
* the content rules of ``transforms.quality.code.code_file_reject_reason``.

The repository's own ``.gitattributes`` (``context.linguist_overrides(path)``) decides first
where it speaks: ``linguist-documentation``, ``linguist-vendored`` and ``linguist-generated``
set (or ``=true``) make a file documentation / vendored / generated, unset (``-attr``) or
``=false`` make it not so whatever the patterns say (``linguist-generated=false`` also skips
the generated-marker check).
"""
from __future__ import annotations

import hashlib
import posixpath
import re
import threading
from collections import OrderedDict
from typing import Iterable, Mapping

from transforms.code.linguist import DOCUMENTATION_REGEX, linguist_vendored
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
DOCUMENTATION_DIRECTORIES = frozenset({"docs", "doc", "documentation"})  # at any depth, any case
CONFIG_DIRECTORIES = frozenset({".github", ".circleci", ".gitlab", ".devcontainer"})
DOCS_DIRECTORIES = DOCUMENTATION_DIRECTORIES | CONFIG_DIRECTORIES
# Libraries commonly copied into another Python package (pip/_vendor, requests/packages,
# botocore/vendored, sklearn/externals, setuptools/_vendor): a directory or module of one of
# these names directly inside a holder directory of another package is vendored.
VENDORED_PYTHON_LIBRARIES = (
    "urllib3", "chardet", "charade", "chardet2", "idna", "six", "certifi", "requests", "simplejson",
    "html5lib", "distlib", "packaging", "pyparsing", "colorama", "cachecontrol", "msgpack", "tomli",
    "tomlkit", "toml", "rich", "pygments", "typing_extensions", "platformdirs", "appdirs", "attrs",
    "jinja2", "markupsafe", "yaml", "oauthlib", "backports", "ordered_set", "more_itertools",
    "jaraco", "zipp", "importlib_metadata", "importlib_resources", "wheel", "dateutil", "pytz",
    "joblib", "cloudpickle", "truststore", "resolvelib", "pkg_resources", "webencodings",
    "progress", "retrying", "tenacity", "lockfile", "pep517", "pyproject_hooks", "ipaddress",
    "backports_abc", "singledispatch", "enum34", "funcsigs", "decorator", "simplegeneric",
    "poster", "oreos", "urlobject", "cachecore", "arff", "lazy_loader",
)
VENDORED_PYTHON_LIBRARY = re.compile(
    r"(?:^|/)[^/]+/(?:packages|vendor|vendored|_vendor|_vendored|externals|_externals|extern|"
    r"third_?party|_third_party)/(?:" + "|".join(map(re.escape, VENDORED_PYTHON_LIBRARIES)) + r")(?:/|\.pyi?$)"
)
VENDORED_DIRECTORY = re.compile(r"(?:^|/)_?vendored/|(?:^|/)_vendor/")
_GO_PACKAGE_CLAUSE = re.compile(r"^package[ \t]+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)
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


def documentation_root(path: str) -> str | None:
    """The documentation directory a file lives in (``docs``, ``pkg/doc``, ``examples`` ...), or None.

    A ``docs``/``doc``/``documentation`` component at any depth, else the directory part of a
    Linguist ``documentation.yml`` pattern matching the file's directory (so Linguist's file
    patterns, README or LICENSE, never make a source file documentation)."""
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    for depth, part in enumerate(parts[:-1]):
        if part.lower() in DOCUMENTATION_DIRECTORIES:
            return "/".join(parts[:depth + 1])
    directory = "/".join(parts[:-1])
    if not directory:
        return None
    match = DOCUMENTATION_REGEX.search(directory + "/")
    if match is None:
        return None
    end = (directory + "/").find("/", max(match.end() - 1, 0))
    return directory[:end] if end > 0 else directory


def in_config_directory(path: str) -> bool:
    """Under .github/, .circleci/, .gitlab/ or .devcontainer/ (at any depth)."""
    parts = [p for p in path.replace("\\", "/").lower().split("/") if p]
    return any(part in CONFIG_DIRECTORIES for part in parts[:-1])


def in_source_package(path: str, text: str | None = None, package_markers: Iterable[str] = ()) -> bool:
    """Whether a file in a documentation directory belongs to a source package (module notes):
    a Go file outside ``package main`` (``text`` needed) that is not a test or sits beside a
    non-test Go file (``package_markers``), a Python file beside an ``__init__.py`` (not
    ``conf.py``), a Rust file under a ``Cargo.toml`` inside the directory."""
    root = documentation_root(path)
    if root is None:
        return False
    name = posixpath.basename(path)
    directory = posixpath.dirname(path)
    ext = _extension(path).lower()
    markers = package_markers if isinstance(package_markers, (set, frozenset)) else set(package_markers)
    if ext == ".go":
        clause = _GO_PACKAGE_CLAUSE.search(text) if text is not None else None
        package = clause.group(1) if clause else None
        if package and name.endswith("_test.go") and package.endswith("_test"):
            package = package[:-len("_test")]  # an external test package tests its package
        if not package or package == "main":
            return False
        if not name.endswith("_test.go"):
            return True
        return any(posixpath.dirname(m) == directory and is_go_source(m) for m in markers)
    if ext in (".py", ".pyi"):
        return name != "conf.py" and (name == "__init__.py" or f"{directory}/__init__.py" in markers)
    if ext == ".rs":
        return any(f"{d}/Cargo.toml" in markers for d in _directories_up_to(directory, root))
    return False


def is_go_source(path: str) -> bool:
    """A Go file that is not a test file."""
    return path.endswith(".go") and not path.endswith("_test.go")


def _directories_up_to(directory: str, root: str) -> list[str]:
    """``directory`` and its parents up to ``root`` (inclusive), deepest first."""
    found = []
    while directory and (directory == root or directory.startswith(root + "/")):
        found.append(directory)
        directory = posixpath.dirname(directory)
    return found


def package_marker_paths(paths: Iterable[str]) -> list[str]:
    """The marker files ``in_source_package`` asks about for ``paths`` (``__init__.py`` beside
    Python files, ``Cargo.toml`` above Rust files, inside documentation directories only); a
    path ending with ``/`` asks for a directory's Go source files (beside a ``_test.go`` file)."""
    wanted: set[str] = set()
    for path in paths:
        root = documentation_root(path)
        if root is None:
            continue
        ext, directory = _extension(path).lower(), posixpath.dirname(path)
        if ext in (".py", ".pyi"):
            wanted.add(f"{directory}/__init__.py")
        elif ext == ".rs":
            wanted.update(f"{d}/Cargo.toml" for d in _directories_up_to(directory, root))
        elif path.endswith("_test.go"):
            wanted.add(f"{directory}/")
    return sorted(wanted)


def is_vendored(path: str) -> bool:
    """Vendored by path: Linguist's vendor.yml, the StarCoder-style patterns, ``_vendor/`` /
    ``vendored/`` directories, a well-known Python library inside another package."""
    return (linguist_vendored(path) or is_vendored_path(path) or VENDORED_DIRECTORY.search(path) is not None
            or VENDORED_PYTHON_LIBRARY.search(path) is not None)


def is_docs_or_config(path: str) -> bool:
    """Documentation or configuration: .md/.rst/.txt, files under docs/ or .github/ (and
    Linguist's documentation directories), .yml/.yaml/.toml/.json/.ini/.cfg, LICENSE, README,
    Makefile, Dockerfile, dotfiles like .gitignore. Source packages are not told apart here
    (``in_source_package``)."""
    parts = [p for p in path.replace("\\", "/").lower().split("/") if p]
    if not parts:
        return False
    if any(part in DOCS_DIRECTORIES for part in parts[:-1]) or documentation_root(path) is not None:
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


def is_documentation(path: str, text: str | None = None, context=None) -> bool:
    """Documentation or configuration as the Clean-PR file rules see it: the ``.gitattributes``
    ``linguist-documentation`` override, else ``is_docs_or_config`` minus source packages."""
    override = context.linguist_overrides(path).get("documentation") if context is not None else None
    if override is not None:
        return override
    if not is_docs_or_config(path):
        return False
    if in_config_directory(path):
        return True
    markers = context.package_markers if context is not None else ()
    return not in_source_package(path, text, markers)


def core_file_reject_reason(path: str, content: str | bytes | None = None, *,
                            extensions: Mapping[str, str] = LANGUAGE_BY_EXTENSION, context=None,
                            text: str | None = None, **code_rules) -> str | None:
    """Why a changed file is not a core source file, or None when it is one (module notes).

    Reasons: ``not_code`` (no core language), ``docs_or_config``, ``vendored``, ``generated``;
    with ``content`` also the StarCoder-style content rules of
    ``transforms.quality.code.code_file_reject_reason`` (``oversized``, ``binary``,
    ``generated``, ``long_lines`` ...), ``code_rules`` being its thresholds. ``context`` (a
    ``transforms.code.repo_context.RepoContext``) brings the repository's ``.gitattributes`` and
    package marker files; ``text`` is the file's text for the Go package-clause check (defaults
    to ``content`` when that is text).
    """
    if text is None and isinstance(content, str):
        text = content
    reason = path_reject_reason(path, extensions=extensions, context=context, text=text)
    if reason is not None or content is None:
        return reason
    return content_reject_reason(path, content, context=context, **code_rules)


def path_reject_reason(path: str, *, extensions: Mapping[str, str] = LANGUAGE_BY_EXTENSION, context=None,
                       text: str | None = None) -> str | None:
    """The rules of ``core_file_reject_reason`` that need no contents: ``not_code``,
    ``docs_or_config``, ``vendored``, ``generated`` (``text`` only for the Go package clause)."""
    if language_of(path, extensions) is None:
        return "not_code"
    overrides = context.linguist_overrides(path) if context is not None else {}
    if is_documentation(path, text, context):
        return "docs_or_config"
    vendored = overrides.get("vendored")
    if vendored if vendored is not None else is_vendored(path):
        return "vendored"
    generated = overrides.get("generated")
    if generated if generated is not None else is_generated_path(path):
        return "generated"
    return None


def path_rules_read_text(path: str) -> bool:
    """Whether ``path_reject_reason`` can answer differently for two texts of ``path`` (only a Go
    file's package clause is read), so a caller may reuse one verdict for every side of a file."""
    return _extension(path).lower() == ".go"


# Verdicts of the content rules by a digest of the contents: a PR's before-file is mostly the
# previous PR's after-file (on werkzeug 3,774 distinct versions among 6,195 checks). Bounded; an
# entry is a digest and a reason, no text.
CONTENT_VERDICT_CACHE_SIZE = 8192
_content_verdicts: OrderedDict[tuple, str | None] = OrderedDict()
_content_verdicts_lock = threading.Lock()


def content_reject_reason(path: str, content: str | bytes, *, context=None, **code_rules) -> str | None:
    """The content rules of ``core_file_reject_reason`` for a file that passed ``path_reject_reason``
    (generated markers are skipped where ``.gitattributes`` says ``linguist-generated``)."""
    overrides = context.linguist_overrides(path) if context is not None else {}
    markers = overrides.get("generated") is None
    # with path_rules=False the path is not read: the contents and the rules decide
    data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else bytes(content)
    key = (isinstance(content, str), hashlib.blake2b(data, digest_size=16).digest(), markers,
           tuple(sorted(code_rules.items())))
    with _content_verdicts_lock:
        if key in _content_verdicts:
            _content_verdicts.move_to_end(key)
            return _content_verdicts[key]
    reason = code_file_reject_reason(path, content, path_rules=False, generated_markers=markers, **code_rules)
    with _content_verdicts_lock:
        _content_verdicts[key] = reason
        while len(_content_verdicts) > CONTENT_VERDICT_CACHE_SIZE:
            _content_verdicts.popitem(last=False)
    return reason


def is_core_file(path: str, content: str | bytes | None = None, *,
                 extensions: Mapping[str, str] = LANGUAGE_BY_EXTENSION, context=None, **code_rules) -> bool:
    """True for a source file in one of the core languages that is neither docs/config nor
    vendored/generated (and, given ``content``, passes the StarCoder-style file rules)."""
    return core_file_reject_reason(path, content, extensions=extensions, context=context, **code_rules) is None
