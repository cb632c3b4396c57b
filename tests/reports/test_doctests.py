"""The examples in the reports modules' docstrings run."""

import doctest
import importlib

import pytest

MODULES = ["formula", "periods", "contracts"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str):
    module = importlib.import_module(f"qalqan.reports.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
