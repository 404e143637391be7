# The two commands of the README. Each creates or updates .venv itself.
.PHONY: run test lint venv

venv:
	@./scripts/bootstrap.sh

# The main job: today, the testbed cluster serving the Kubernetes API under live load.
run: venv
	.venv/bin/aiops testbed serve --host 127.0.0.1 --port 8080 --speed 1 --load diurnal

# The test suite (CI runs exactly this through .ci/run).
test: venv
	.venv/bin/python -m pytest -n 2 -q

lint: venv
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy
