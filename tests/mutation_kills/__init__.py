"""Tests written to kill the mutants that survived `make mutate` (docs/mutation.md). A package, so that
their module names (test_holds, test_privacy) do not clash with tests/rules/test_holds.py and tests/test_privacy.py."""
