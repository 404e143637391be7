# The two commands of the README. Each creates or updates .venv itself.
.PHONY: run test lint venv

venv:
	@./scripts/bootstrap.sh

# The main job: the control plane healing an embedded testbed (a fault injected after an hour),
# deciding with the bundled local model (SmolLM2-135M through the specialists' graph).
run: venv
	.venv/bin/aiops run --embedded --fault bad-release --policy local

# The test suite (CI runs exactly this through .ci/run).
test: venv
	.venv/bin/python -m pytest -n 2 -q

lint: venv
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy
