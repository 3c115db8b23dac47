# One-command set-up and checks. `make test` works from a fresh clone: it creates .venv and installs the pins.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: venv test bench smoke clean

$(BIN)/.installed: requirements.txt requirements-export.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-export.txt  # optional exports; tested in CI
	touch $@

venv: $(BIN)/.installed

test: venv
	$(BIN)/python -m pytest

# End to end on tiny untrained models built on the fly: proves an installation works, not model quality.
# `make smoke LANG=hi` runs it in Hindi: LANG given on the command line is the language code (not the locale, which
# the run then gets as C.UTF-8); `make smoke SMOKE_LANG=hi` is the same.
ifeq ($(origin LANG),command line)
SMOKE_LANG := $(LANG)
SMOKE_ENV := env LANG=C.UTF-8
endif
SMOKE_LANG ?= tr

smoke: venv
	$(SMOKE_ENV) $(BIN)/python -m harness.smoke --lang $(SMOKE_LANG)

bench: venv
	$(BIN)/python -m bench.teacher_throughput
	$(BIN)/python -m bench.translation_throughput
	$(BIN)/python -m bench.embed_memory
	$(BIN)/python -m bench.train_throughput
	$(BIN)/python -m bench.encode_text_throughput
	$(BIN)/python -m bench.export_throughput
	$(BIN)/python -m bench.search_latency
	$(BIN)/python -m bench.image_embed_throughput
	$(BIN)/python -m bench.lora_train --quick

clean:
	rm -rf $(VENV) .pytest_cache
