# The course's commands. Each target sets up what it needs: a virtual
# environment in .venv with the package installed (editable) and its extras.
# pip's own output goes to .venv/install.log; a failed install prints its end.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
LOG := $(VENV)/install.log
CH ?=
EX ?=
N ?= 1
FORCE ?=
SOLUTIONS ?= 1
LAB_ARGS ?=
LAB_PACKAGES := "jupyterlab>=4,<5" "ipywidgets>=8"
# A comma inside $(call ...)'s arguments would split them: extras go through variables.
DEV_EXTRAS := -e ".[dev]"
BOOK_EXTRAS := -e ".[book,dev]"

.PHONY: test book lab grade hint exercises clean

# $(call pip_install,what it is,pip arguments)
define pip_install
	@echo "Installing $(1) into $(VENV) (log: $(LOG))"
	@$(PY) -m pip install --disable-pip-version-check $(2) >$(LOG).last 2>&1; status=$$?; \
	  cat $(LOG).last >>$(LOG); \
	  [ $$status -eq 0 ] || { tail -n 25 $(LOG).last; echo "The install failed: its end is above ($(LOG))."; exit 1; }
endef

$(PY):
	@echo "Creating the virtual environment $(VENV) (the first install: several minutes, about 6 GB)"
	@$(PYTHON) -m venv $(VENV)
	$(call pip_install,the latest pip,--upgrade pip)

$(VENV)/.dev-installed: pyproject.toml | $(PY)
	$(call pip_install,the course and its tools,$(DEV_EXTRAS))
	@touch $@

$(VENV)/.book-installed: pyproject.toml | $(PY)
	$(call pip_install,the course and the book's tools,$(BOOK_EXTRAS))
	@touch $@ $(VENV)/.dev-installed

$(VENV)/.lab-installed: $(VENV)/.dev-installed
	$(call pip_install,JupyterLab,$(LAB_PACKAGES))
	@touch $@

## make test: every test, the library's examples (doctests), the graded self-checks, `make lab`
## (hence JupyterLab); then every chapter, run once in a plain Jupyter kernel as a learner runs it
## (tests/test_workbench.py: without error, showing its figures and numbers; a time limit each)
test: $(VENV)/.lab-installed
	$(PY) -m pytest tests interp_lib --doctest-modules
	$(PY) -m pytest tests/test_workbench.py --chapters -m chapter --timeout=1200

## make book [SOLUTIONS=0]: build the online book (executes every chapter) into book/_build/html.
## INTERP_BOOK_BUILD=1 tells glue (interp_lib/course/book.py) that it runs for the book: values are
## recorded for the text instead of shown under their cells. SOLUTIONS=0: the instructors' edition,
## whose exercise boxes have no solutions.
book: $(VENV)/.book-installed
	INTERP_BOOK_BUILD=1 INTERP_BOOK_SOLUTIONS=$(SOLUTIONS) \
	  $(VENV)/bin/jupyter-book build book -W -n --keep-going
	$(PY) book/_ext/check_book.py book/_build/html

## make lab [CH=3]: install JupyterLab into .venv (once) and open the chapters (or chapter CH) in it
lab: $(VENV)/.lab-installed
	@echo "Opening JupyterLab on $(LAB_PAGE); stop it with Ctrl-C in this terminal."
	@$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url="/lab/tree/$(LAB_PAGE)" $(LAB_ARGS)
LAB_PAGE = $(if $(CH),$(or $(firstword $(wildcard book/ch0$(CH)_*.ipynb book/ch$(CH)_*.ipynb)),$(error no chapter $(CH) in book/: chapters are 0 to 7)),book)

## make grade [CH=0 | EX=channel_means]: grade your exercises (all, one chapter, or one exercise)
grade: $(VENV)/.dev-installed
	@$(PY) -m interp_lib.course grade $(if $(CH),--chapter $(CH)) $(if $(EX),--exercise $(EX))

## make hint EX=channel_means [N=1]: one hint of an exercise, without the others
hint: $(VENV)/.dev-installed
	@$(PY) -m interp_lib.course hint $(if $(EX),$(EX) $(N))

## make exercises [FORCE=1]: regenerate exercises/ from solutions/ (course authors). A file that
## holds answers is kept; FORCE=1 overwrites it, after copying it into .exercises_backup/
exercises: $(VENV)/.dev-installed
	@$(PY) -m interp_lib.course make-exercises $(if $(FORCE),--force)

clean:
	rm -rf book/_build .pytest_cache
