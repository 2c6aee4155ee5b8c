# toyinterp: two commands do all set-up on a fresh machine.
#   make book   install into .venv/, execute every chapter, build the HTML book in _build/html
#   make test   install, build the book, run the unit tests, every chapter under nbval, and the offline-HTML check
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NB_DIR := build/notebooks
PAGES  := $(wildcard book/*.md)

.PHONY: install book notebooks test bench clean chromium lab

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e .
	touch $(STAMP)

_static/plotly.min.js: $(STAMP)
	$(PY) -c "import plotly, shutil, pathlib; shutil.copy(pathlib.Path(plotly.__file__).parent / 'package_data' / 'plotly.min.js', '$@')"

# MathJax 3 (SVG output: no web fonts), from the sphinx-mathjax-offline wheel's files. It lives in _vendor/
# (a second html_static_path, served as _static/mathjax/) because Jupyter Book adds every .js in _static/ to
# every page, and MathJax loads its own components on demand.
_vendor/mathjax/tex-svg.js: $(STAMP)
	rm -rf _vendor/mathjax
	$(PY) -c "import sysconfig, shutil, pathlib; shutil.copytree(pathlib.Path(sysconfig.get_paths()['purelib']) / 'sphinx-mathjax-offline' / 'static' / 'mathjax', '_vendor/mathjax')"
	test -f $@

# TOYINTERP_BOOK=1: training progress bars go to this terminal, not into the pages (toyinterp.progress);
# each chapter's table of claims carries its record for the results page (toyinterp.results).
# toyinterp.prebuild first executes the chapters the jupyter cache lacks, two at a time, into that cache;
# jupyter-book then reads every chapter from it (it would execute them one after another).
book: $(STAMP) _static/plotly.min.js _vendor/mathjax/tex-svg.js
	TOYINTERP_BOOK=1 $(PY) -m toyinterp.prebuild .
	TOYINTERP_BOOK=1 $(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going

# The MyST pages as notebooks, for nbval (jupytext keeps the parameters tag).
notebooks: $(STAMP)
	mkdir -p $(NB_DIR)
	for page in $(filter-out book/intro.md book/results.md,$(PAGES)); do \
	  $(VENV)/bin/jupytext --quiet --to ipynb -o $(NB_DIR)/$$(basename $$page .md).ipynb $$page || exit 1; \
	done

# Debian's chromium, for the test that opens the built book with the network closed.
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The sweep extra (Ray), for toyinterp.sweep and its test; `make book` does not need it.
$(VENV)/.installed-sweep: $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[sweep]'
	touch $@

# JupyterLab (the lab extra), for editing the chapters as notebooks: `make lab`. A chapter (.md) opens as a
# notebook by default (jupytext's viewer; never paired with an .ipynb) on the kernel python3, this .venv's
# python, and saves back as MyST with the metadata it had (jupytext.toml; toyinterp.lab keeps the header).
LAB_CONFIG := $(VENV)/etc/jupyter
$(VENV)/.installed-lab: $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[lab]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3"
	$(VENV)/bin/jupytext-config --settings-file $(LAB_CONFIG)/labconfig/default_setting_overrides.json set-default-viewer markdown myst
	echo '{"ContentsManager": {"pre_save_hook": "toyinterp.lab.keep_front_matter"}}' > $(LAB_CONFIG)/jupyter_server_config.json
	touch $@

lab: $(VENV)/.installed-lab
	$(VENV)/bin/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.allow_root=True $(LAB_ARGS)

# The tests run on every core (pytest-xdist; --dist loadfile keeps a notebook's cells, and a module's fixtures,
# in one worker). OMP_WAIT_POLICY=PASSIVE: torch's OpenMP threads sleep instead of spinning while they wait, so
# two processes share two cores (measurements in the README); the number of threads, so every float and every
# store key, is unchanged.
test: book notebooks chromium $(VENV)/.installed-sweep $(VENV)/.installed-lab
	OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest tests $(NB_DIR) --nbval-lax -v --durations=15 --numprocesses auto --dist loadfile

bench: $(STAMP)
	$(PY) -m toyinterp.bench

clean:
	rm -rf _build build runs
