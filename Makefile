# glupy: GlusterFS translators written in Python.
#
#   make demo    install what is needed, build, and run the demo
#   make test    install what is needed, build, and run every test
#   make bench   benchmarks against plain GlusterFS, side by side
#   make         build the native bridge (native/build/glupy.so)
#   make install install the bridge where glusterfs loads translators

SHELL := /bin/bash
PYTHON_BASE ?= /usr/bin/python3
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
BUILD := native/build

# What GlusterFS and Python we build against (empty until the packages are installed).
GLUSTER_VERSION = $(shell glusterfs --version 2>/dev/null | awk 'NR==1 {print $$2}')
GLUSTER_LIBDIR = $(shell dirname "$$(ldconfig -p | awk '/libglusterfs.so.0 / {print $$NF; exit}')" 2>/dev/null)
XLATOR_DIR = $(GLUSTER_LIBDIR)/glusterfs/$(GLUSTER_VERSION)/xlator
PY_INCLUDES = $(shell $(PYTHON_BASE) -c 'import sysconfig; print("-I" + sysconfig.get_paths()["include"])')
PY_LIBDIR = $(shell $(PYTHON_BASE) -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')
PY_LDLIB = $(shell $(PYTHON_BASE) -c 'import sysconfig; print("python" + sysconfig.get_config_var("LDVERSION"))')
PY_SONAME = $(shell $(PYTHON_BASE) -c 'import sysconfig; print(sysconfig.get_config_var("INSTSONAME"))')
PY_EXT_SUFFIX = $(shell $(PYTHON_BASE) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
# crypt's block sealing in C (OpenSSL), imported as glupy._aead; crypt falls back to `cryptography` without it
AEAD_MODULE = src/glupy/_aead$(PY_EXT_SUFFIX)

CFLAGS ?= -O2 -g
GLUPY_CFLAGS = $(CFLAGS) -fPIC -Wall -Werror=incompatible-pointer-types -Werror=implicit-function-declaration \
	-Werror=int-conversion -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(PY_INCLUDES) -Inative -I$(BUILD) \
	-DGLUPY_PYTHON='"$(PY)"' -DGLUPY_LIBPYTHON='"$(PY_SONAME)"'
GLUPY_LDFLAGS = -shared -L$(PY_LIBDIR) -lglusterfs -l$(PY_LDLIB)

SOURCES = native/bridge.c native/types.c native/task.c native/workers.c native/missing.c native/layout_check.c $(BUILD)/glue.c
OBJECTS = $(patsubst %.c,$(BUILD)/%.o,$(notdir $(SOURCES)))
HEADERS = native/glupy.h native/gluster-config.h native/layout_check.h

.PHONY: all build deps venv install uninstall test unit integration demo bench docs stubs clean check-layout

all: build

deps:
	@tools/install-deps.sh

$(VENV)/.installed: pyproject.toml
	@test -x $(PYTHON_BASE) || { echo "$(PYTHON_BASE) not found: apt-get install python3 python3-venv python3-dev" >&2; exit 1; }
	$(PYTHON_BASE) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,metrics,crypt,graph,events]'
	touch $@

venv: $(VENV)/.installed

$(BUILD)/glue.c: native/gen_glue.py src/glupy/fop_table.py
	@mkdir -p $(BUILD)
	$(PYTHON_BASE) native/gen_glue.py $@

# GlusterFS's devel headers include "config.h": ours is gluster-config.h
$(BUILD)/config.h:
	@mkdir -p $(BUILD)
	echo '#include "gluster-config.h"' > $@

$(BUILD)/%.o: native/%.c $(HEADERS) | $(BUILD)/glue.c $(BUILD)/config.h
	@test -n "$(GLUSTER_VERSION)" || { echo "GlusterFS is not installed: run 'make deps' (apt-get install glusterfs-server glusterfs-client libglusterfs-dev liburcu-dev uuid-dev)" >&2; exit 1; }
	$(CC) $(GLUPY_CFLAGS) -c $< -o $@

$(BUILD)/glue.o: $(BUILD)/glue.c $(HEADERS) | $(BUILD)/config.h
	$(CC) $(GLUPY_CFLAGS) -c $< -o $@

$(BUILD)/glupy.so: $(OBJECTS) $(VENV)/.installed
	$(CC) -o $@ $(OBJECTS) $(GLUPY_LDFLAGS)
	@if ldd -r $@ 2>&1 | grep -q 'undefined symbol'; then ldd -r $@ 2>&1 | grep 'undefined symbol' >&2; \
		echo "glupy.so has symbols the installed GlusterFS does not provide" >&2; rm -f $@; exit 1; fi

$(AEAD_MODULE): native/aead.c
	@test -f /usr/include/openssl/evp.h || { echo "OpenSSL's headers are not installed: run 'make deps' (apt-get install libssl-dev)" >&2; exit 1; }
	$(CC) $(CFLAGS) -fPIC -shared -Wall -Werror=implicit-function-declaration $(PY_INCLUDES) -o $@ $< -lcrypto

$(BUILD)/layout_probe: native/layout_probe.c $(BUILD)/layout_check.o $(HEADERS)
	$(CC) $(GLUPY_CFLAGS) -o $@ native/layout_probe.c $(BUILD)/layout_check.o -lgfapi -lglusterfs

# A build whose structure layouts disagree with the installed libglusterfs fails here.
check-layout: $(BUILD)/layout_probe
	$(BUILD)/layout_probe

build: $(BUILD)/glupy.so $(AEAD_MODULE) check-layout

install: build
	install -d $(XLATOR_DIR)/user
	install -m 0755 $(BUILD)/glupy.so $(XLATOR_DIR)/user/glupy.so.new
	mv -f $(XLATOR_DIR)/user/glupy.so.new $(XLATOR_DIR)/user/glupy.so
	@echo "installed $(XLATOR_DIR)/user/glupy.so (GlusterFS $(GLUSTER_VERSION), Python $(PY))"
	@# what `gluster system:: execute glupy` runs on this node for the pool checks (glupy.peer)
	@$(PY) -c 'from glupy import peer; print("installed", peer.install())'

uninstall:
	rm -f $(XLATOR_DIR)/user/glupy.so $(GLUSTER_LIBDIR)/glusterfs/peer_glupy

docs: venv
	$(PY) -c "import glupy.fop_table as t; print(t.markdown(), end='')" > docs/fops.md

# the .pyi of what glupy makes at import time (Child's FOPs, the reply classes), from the FOP table
stubs: venv
	$(PY) -c "from glupy import _stubgen; print(*_stubgen.write(), sep='\n')"

unit: venv $(AEAD_MODULE)
	$(PY) -m pytest -q tests/unit

integration: deps venv install
	GLUPY_REQUIRE_GLUSTER=1 $(PY) -m pytest -q tests/integration

test: deps venv install
	GLUPY_REQUIRE_GLUSTER=1 $(PY) -m pytest -q tests/unit tests/integration

demo: deps venv install
	$(VENV)/bin/glupy demo

bench: deps venv install
	@tools/install-deps.sh valgrind
	$(PY) -m bench

clean:
	rm -rf $(BUILD) $(AEAD_MODULE)
