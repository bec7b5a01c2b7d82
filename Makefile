# make demo   set up everything, then run the namespace-sharing demo
# make test   set up everything, then run the whole test suite
# make build  (re)build the static binary and the cffi extensions into .venv
# make bench  the full side-by-side benchmark; make bench-quick, its smoke run
# make image  the pause container image (podman, or docker when present)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip -q --disable-pip-version-check
SOURCES := setup.py pyproject.toml pause/_version.py pause/_build_core.py $(wildcard csrc/*.c csrc/*.h csrc/*.sh launcher/runtime/_build_sys.py)

.PHONY: demo test build system bench bench-quick image clean

demo: build
	$(VENV)/bin/launcher run --share-pid

test: build
	$(PY) -m pytest $(PYTEST_ARGS)

build: $(VENV)/.built

system:
	sh scripts/setup-system.sh

$(VENV)/.deps:
	sh scripts/setup-system.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel
	$(PIP) install cffi python-prctl PyYAML pytest hypothesis
	touch $@

$(VENV)/.built: $(VENV)/.deps $(SOURCES)
	$(PIP) install --no-build-isolation -e '.[test,plot]'
	touch $@

bench: build
	$(PY) bench/run.py

bench-quick: build
	$(PY) bench/run.py --quick

image: build
	sh scripts/build-image.sh

clean:
	rm -rf build dist *.egg-info pause/bin pause/_core*.so launcher/runtime/_sys*.so $(VENV)
