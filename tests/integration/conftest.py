import pytest


@pytest.fixture(scope="session", autouse=True)
def _installed(installed_copy_is_current: None) -> None:
    """The hook and the service under test run from the installed package."""
