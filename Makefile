# The course's commands. Each target sets up what it needs: a virtual
# environment in .venv with the package installed (editable) and its extras.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CH ?=

.PHONY: test book grade exercises clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.dev-installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

$(VENV)/.book-installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[book,dev]"
	touch $@

## make test: every test, the graded self-checks, and every chapter notebook run by nbmake
test: $(VENV)/.dev-installed
	$(PY) -m pytest tests interp_lib book --nbmake --doctest-modules --ignore=book/_build

## make book: build the online book (executes every chapter) into book/_build/html
book: $(VENV)/.book-installed
	$(VENV)/bin/jupyter-book build book -W -n --keep-going
	$(PY) book/_ext/check_offline.py book/_build/html

## make grade [CH=0]: grade your exercises
grade: $(VENV)/.dev-installed
	$(PY) -m interp_lib.course.grade $(if $(CH),--chapter $(CH))

## make exercises: regenerate exercises/ from solutions/ (course authors only)
exercises: $(VENV)/.dev-installed
	$(PY) -m interp_lib.course.exercises make-exercises

clean:
	rm -rf book/_build .pytest_cache
