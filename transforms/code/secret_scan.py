"""Secrets in the code an edit sample adds, found by Yelp's ``detect-secrets`` used as a library.

What is scanned: the lines a sample adds, per file: each block's REPLACE lines that are not
among its SEARCH lines (``added_lines``). Context lines and removed code are not scanned: a key
the PR deletes is not one the sample teaches to write.

How: ``detect-secrets``' own line scanner (the one ``detect-secrets scan`` runs over each file)
with its default filters (lock files, templated values, UUIDs, sequential strings, ...) and the
plugins of ``plugin_names()``: every default plugin except ``NOISY_PLUGINS``. Measured on the
kept samples of three real repositories (pallets/jinja 194, psf/requests 664, urfave/cli 498; all
default plugins): every hit was false. ``HexHighEntropyString`` flagged 7 lines in 2 requests
samples (test etags and digest nonces), ``BasicAuthDetector`` 7 lines in 4 (``user:pass@`` test
URLs); ``Base64HighEntropyString``, ``KeywordDetector`` and ``IPPublicDetector`` flagged nothing,
so the keyword and IP plugins stay and the base64 one goes with its hex twin (same method).
The file the lines come from is the file name the filters see (``is_lock_file`` and
``is_swagger_file`` use it); the filter that requires the file to exist on
disk is off, as in ``detect-secrets scan --string``.

Speed: a line is handed to detect-secrets only when one of the enabled plugins' own regexes
matches it (``candidate_patterns``: the same regexes the plugins run, so nothing is missed); the
rest would cost each plugin a call through detect-secrets' argument injection (about 0.7 ms a line).

The answer is a column pair (``has_secrets``, ``secret_types``: detect-secrets' type names such as
``AWS Access Key``, ``GitHub Token``, sorted), so a run can keep or drop them later;
``--reject-secrets`` drops them in the pipeline (reason ``secrets``).
"""
from __future__ import annotations

from typing import Iterable, Mapping

NOISY_PLUGINS = frozenset({"Base64HighEntropyString", "HexHighEntropyString", "BasicAuthDetector"})
_DISABLED_FILTERS = ("detect_secrets.filters.common.is_invalid_file",)


def plugin_names() -> list[str]:
    """detect-secrets' default plugins minus ``NOISY_PLUGINS``."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    return sorted(cls.__name__ for cls in get_mapping_from_secret_type_to_class().values()
                  if cls.__name__ not in NOISY_PLUGINS)


def candidate_patterns() -> list | None:
    """Every enabled plugin's own regexes (a regex plugin reports a secret only where one of them
    matches the line; the keyword plugin only where a line names one of its words), or None when a
    plugin without such regexes (high entropy) is on."""
    import re

    from detect_secrets.plugins import keyword
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.settings import get_plugins

    patterns = []
    for plugin in get_plugins():
        if isinstance(plugin, RegexBasedDetector):
            patterns.extend(plugin.denylist)
        elif isinstance(plugin, keyword.KeywordDetector):  # each of its regexes holds one of these words
            patterns.append(re.compile("|".join(keyword.DENYLIST), re.IGNORECASE))
        else:
            return None
    return patterns


def added_lines(blocks: Iterable[Mapping]) -> dict[str, list[str]]:
    """Path -> the lines the blocks add (REPLACE lines not among the block's SEARCH lines), in order."""
    added: dict[str, list[str]] = {}
    for block in blocks:
        search = set(block["search"].splitlines())
        lines = [line for line in block["replace"].splitlines() if line.strip() and line not in search]
        if lines:
            added.setdefault(block["path"], []).extend(lines)
    return added


class SecretScanner:
    """Batch stage worker: adds ``has_secrets`` and ``secret_types`` to edit samples.

    ``setup`` configures detect-secrets once per worker (its settings are process-global)."""

    def __init__(self, plugins: Iterable[str] | None = None):
        self.plugins = sorted(plugins) if plugins is not None else None
        self._ready, self._patterns = False, None

    def setup(self):
        if self._ready:
            return
        from detect_secrets.settings import cache_bust, configure_settings_from_baseline, get_settings

        cache_bust()
        configure_settings_from_baseline({"plugins_used": [{"name": name} for name in
                                                           (self.plugins or plugin_names())]})
        get_settings().disable_filters(*_DISABLED_FILTERS)
        self._patterns = candidate_patterns()
        self._ready = True

    def secret_types(self, files: Mapping[str, list[str]]) -> list[str]:
        """Sorted detect-secrets type names found in ``files`` (path -> lines)."""
        from detect_secrets.core.scan import _process_line_based_plugins

        self.setup()
        found: set[str] = set()
        for path, lines in files.items():
            if self._patterns is not None:  # only lines some plugin's own regex matches can hold a secret
                lines = [line for line in lines if any(p.search(line) for p in self._patterns)]
                if not lines:
                    continue
            for secret in _process_line_based_plugins(list(enumerate(lines, start=1)), filename=path):
                found.add(secret.type)
        return sorted(found)

    def scan(self, samples: list[dict]) -> list[dict]:
        """The samples with ``has_secrets`` / ``secret_types`` set (Batch stage method)."""
        out = []
        for sample in samples:
            types = self.secret_types(added_lines(sample.get("blocks") or ()))
            out.append({**sample, "has_secrets": bool(types), "secret_types": types})
        return out

    def __getstate__(self):
        return {"plugins": self.plugins, "_ready": False, "_patterns": None}


def secrets_reason(sample: Mapping) -> str | None:
    """Filter for ``--reject-secrets``: ``secrets`` when the added code holds any."""
    return "secrets" if sample.get("has_secrets") else None
