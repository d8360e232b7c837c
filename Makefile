# Quick start: `make demo` and `make test`. Both create (or reuse) .venv in the checkout.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= demo-output
DEMO_MODELS := gray reinhard welsh classical-restore classical-restore+welsh

.PHONY: demo test lint bench clean

# Exact versions from constraints.txt; setup.cfg itself only declares ranges.
$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(STAMP)

# Build the bundled sample set, run every weight-free baseline, print the leaderboard, write the report.
demo: $(STAMP)
	rm -rf $(DEMO_DIR)
	$(BIN)/pikfix-bench build-dataset sample --out $(DEMO_DIR)/sample
	for model in $(DEMO_MODELS); do \
	  $(BIN)/pikfix-bench evaluate --model $$model --dataset $(DEMO_DIR)/sample --out $(DEMO_DIR)/runs/$$model --save-outputs || exit 1; \
	done
	$(BIN)/pikfix-bench leaderboard $(DEMO_DIR)/runs --metrics psnr,ssim,lpips,ciede2000
	$(BIN)/pikfix-bench report $(DEMO_DIR)/runs --dataset $(DEMO_DIR)/sample --out $(DEMO_DIR)/report.html
	@echo "HTML report: $(DEMO_DIR)/report.html"

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# Speed targets (see bench/*.py); imagecorruptions is the reference of bench/degradations.py.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps imagecorruptions==1.1.2 'setuptools<81'
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/degradations.py
	$(BIN)/python bench/build.py
	$(BIN)/python bench/evaluate.py

clean:
	rm -rf $(VENV) $(DEMO_DIR)
