"""Test-suite hooks: the ``shared_data`` marker (see ``tests/shared_data.py``)."""
import pytest

from tests.shared_data import missing_for, required


def pytest_collection_modifyitems(config, items):
    if required():
        return  # pytest_runtest_setup fails them instead
    for item in items:
        reason = missing_for(item)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))  # reported at the test's own location


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if required():
        reason = missing_for(item)
        if reason is not None:  # before the test's fixtures, so none of them reads missing files
            pytest.fail(reason, pytrace=False)
