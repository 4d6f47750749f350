# The course's commands. Each target sets up what it needs: a virtual
# environment in .venv with the package installed (editable) and its extras.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CH ?=

EX ?=
N ?= 1

.PHONY: test book grade hint exercises clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.dev-installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

$(VENV)/.book-installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[book,dev]"
	touch $@

## make test: every test, the library's examples (doctests), the graded self-checks, and every
## chapter notebook (run by nbmake, with a limit of its own: a chapter is slower than a test)
test: $(VENV)/.dev-installed
	$(PY) -m pytest tests interp_lib --doctest-modules
	$(PY) -m pytest book --nbmake --ignore=book/_build --timeout=1200 --nbmake-timeout=900

## make book: build the online book (executes every chapter) into book/_build/html
book: $(VENV)/.book-installed
	$(VENV)/bin/jupyter-book build book -W -n --keep-going
	$(PY) book/_ext/check_book.py book/_build/html

## make grade [CH=0]: grade your exercises
grade: $(VENV)/.dev-installed
	$(PY) -m interp_lib.course grade $(if $(CH),--chapter $(CH))

## make hint EX=channel_means [N=1]: one hint of an exercise, without the others
hint: $(VENV)/.dev-installed
	@$(PY) -m interp_lib.course hint $(EX) $(N)

## make exercises: regenerate exercises/ from solutions/ (course authors only: erases answers)
exercises: $(VENV)/.dev-installed
	$(PY) -m interp_lib.course make-exercises

clean:
	rm -rf book/_build .pytest_cache
