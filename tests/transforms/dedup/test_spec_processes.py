"""--sign-processes reaches the spec (0: one per CPU)."""
import os
from types import SimpleNamespace

from transforms.dedup.spec import dedup_spec


def _opts(**kw):
    return SimpleNamespace(dedup_method="both", threshold=0.8, num_perm=256, ngram=5, shingles=None, **kw)


def test_sign_processes_from_the_flag():
    assert dedup_spec(_opts(), id_field="id").sign_processes == 1  # pipelines without the flag
    assert dedup_spec(_opts(sign_processes=2), id_field="id").sign_processes == 2
    assert dedup_spec(_opts(sign_processes=0), id_field="id").sign_processes == max(1, os.cpu_count() or 1)
