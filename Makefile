# Two entry points for a fresh machine: `make demo` (set up + the main job) and `make test`.
VENV ?= .venv
PYTHON ?= python3
CHROMIUM ?= /usr/bin/chromium

# The runtime only (`make demo`): serving, replay, reports. Training's scikit-learn and the test tools
# are extras: `pip install 'qalqan[train]'`, or `make test`, which installs them.
$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed: $(VENV)/.runtime
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

.PHONY: setup demo test bench lint
setup: $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(VENV)/bin/qalqan demo

test: $(VENV)/.installed $(CHROMIUM)
	-@bash scripts/services.sh
	$(VENV)/bin/python -m pytest

# The reports' browser test draws the HTML report in headless Chromium (Debian's package); without it
# that test is skipped with a message.
$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
		|| echo "could not install chromium (not root? no network?): the HTML report's browser test will be skipped"

bench: $(VENV)/.installed
	$(VENV)/bin/python bench/decide.py
	$(VENV)/bin/python bench/http.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

# Mutation testing of the modules where a wrong line costs money or privacy (docs/mutation.md).
# `make mutate` runs each module below one after the other; `make mutate MUTATE="expr tenancy"` only those.
# pyproject.toml's [tool.mutmut] holds one test selection (all of them, for a plain `mutmut run`); here each
# module gets only the test files that cover it, and mutmut then runs, for each mutant, only those of its
# tests that executed the mutated function (-x, fastest first). Survivors: `.venv/bin/mutmut show NAME` (the last module's).
MUTATE ?= policy holds privacy expr tenancy store workflow
MUTATE_SRC_policy    = src/qalqan/policy.py
MUTATE_SRC_holds     = src/qalqan/holds.py
MUTATE_SRC_privacy   = src/qalqan/privacy.py
MUTATE_SRC_tenancy   = src/qalqan/tenancy.py
MUTATE_SRC_expr      = src/qalqan/rules/expr.py
MUTATE_SRC_store     = src/qalqan/store/base.py
MUTATE_SRC_workflow  = src/qalqan/store/workflow.py
MUTATE_TESTS_policy  = tests/test_policy_order.py tests/rules/test_od2506.py tests/rules/test_holds.py tests/test_engine.py
MUTATE_TESTS_holds   = tests/rules/test_holds.py tests/test_engine.py
MUTATE_TESTS_privacy = tests/test_privacy.py tests/security/test_privacy_leaks.py
MUTATE_TESTS_tenancy = tests/security/test_tenancy.py
MUTATE_TESTS_expr    = tests/rules/test_language.py
MUTATE_TESTS_store   = tests/security/test_case_history_org.py
MUTATE_TESTS_workflow = tests/security/test_case_history_org.py tests/security/test_org_walls.py tests/api/test_grey_deadlines.py
# The kill tests given with them: all of tests/mutation_kills, or (where the module is under every engine
# test, and a surviving mutant would run every engine test of that folder) only its own file.
MUTATE_KILLS_expr    = tests/mutation_kills/test_expr.py
MUTATE_KILLS_tenancy = tests/mutation_kills/test_tenancy.py
MUTATE_KILLS_store   = tests/mutation_kills/test_store_base.py
MUTATE_KILLS_workflow = tests/mutation_kills/test_workflow_org.py tests/mutation_kills/test_workflow_more.py
# mutmut has no command-line switch for these two settings: set them on its loaded config, then run its CLI.
MUTMUT_ONE = $(VENV)/bin/python -c 'import sys; from mutmut.configuration import config; from mutmut.__main__ import cli; \
	c = config(); c.only_mutate = [sys.argv[1]]; c.pytest_add_cli_args_test_selection = sys.argv[3:]; \
	sys.argv = ["mutmut", "run", sys.argv[2] + ".*"]; cli()'

# Each module starts from a fresh mutants/ (mutmut would keep old verdicts after the tests change, and
# drops all of them when the test selection changes anyway); its log and verdicts stay in mutmut-logs/.
define MUTATE_MODULE
.PHONY: mutate-$(1)
mutate-$(1): $(VENV)/.installed
	@echo "== mutmut over $(MUTATE_SRC_$(1)) with $(MUTATE_TESTS_$(1)) $(or $(MUTATE_KILLS_$(1)),tests/mutation_kills)"
	@rm -rf mutants; mkdir -p mutmut-logs; start=$$$$(date +%s); \
	$(MUTMUT_ONE) $(MUTATE_SRC_$(1)) $(subst /,.,$(patsubst src/%.py,%,$(MUTATE_SRC_$(1)))) $(MUTATE_TESTS_$(1)) \
		$(or $(MUTATE_KILLS_$(1)),tests/mutation_kills) > mutmut-logs/$(1).log 2>&1 || { tail -40 mutmut-logs/$(1).log; exit 1; }; \
	echo "== $(1): $$$$(( $$$$(date +%s) - start ))s"
	@$(VENV)/bin/mutmut results --all true 2>/dev/null | grep "$(subst /,.,$(patsubst src/%.py,%,$(MUTATE_SRC_$(1))))\." \
		> mutmut-logs/$(1).results; awk -F': ' '{n++; s[$$$$2]++} $$$$2 != "killed" {print} \
		END {printf "== %d mutants, %d killed, %d survived\n", n, s["killed"], s["survived"]}' mutmut-logs/$(1).results
endef
$(foreach m,policy holds privacy tenancy expr store workflow,$(eval $(call MUTATE_MODULE,$(m))))

.PHONY: mutate
mutate: $(addprefix mutate-,$(MUTATE))
