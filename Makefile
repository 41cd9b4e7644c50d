# SPDX-License-Identifier: GPL-2.0-only
#
# rnetfs.ko out of tree, against a kernel tree that has this repository's
# patches/ and rust/ overlay and was built with CONFIG_RNETFS=m, such as
# the one tools/testing/rnetfs/kernel.sh builds:
#
#   make KDIR=<kernel build dir>            build/fs/rnetfs/rnetfs.ko
#   make KDIR=<kernel build dir> CLIPPY=1   the same, linted by clippy
#   make KDIR=<kernel build dir> rustfmtcheck
#   make KDIR=<kernel build dir> clean
#
# KDIR is where the kernel's objects are: the O= directory of an O= build
# (kernel.sh's ~/.cache/rnetfs/build/<version>-test-<hash>, the default
# through its current-test link), else the source tree. Objects go to MO
# (kbuild's external-module output directory, Linux >= 6.13; default
# build/ here), so fs/rnetfs/ holds only sources. The in-tree build reads
# fs/rnetfs/Makefile and never this file.

# This directory, wherever make is run from (make -f, make -C).
here := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))

KDIR ?= $(or $(RNETFS_CACHE),$(HOME)/.cache/rnetfs)/build/current-test
MO ?= $(here)/build
# The LLVM the kernel was built with (kernel.sh's LLVM=-19): Rust code
# and C objects must come from the same toolchain as the kernel's.
LLVM ?= -19

kbuild = $(MAKE) -C $(KDIR) M=$(here) MO=$(abspath $(MO)) LLVM=$(LLVM)

all: modules

modules modules_install:
	$(kbuild) $@

# kbuild's clean leaves MO's Makefile, source link and directories: the
# default MO is ours to remove, one given on the command line is not.
clean:
	$(kbuild) clean
	$(if $(filter $(origin MO),file),rm -rf $(MO))

# The kernel's rustfmt targets take the whole kernel tree, even with M=:
# ours take this repository's Rust files, with the tree's .rustfmt.toml,
# as lint.sh does.
rustfmt_config = $(firstword $(wildcard $(KDIR)/source/.rustfmt.toml \
				       $(KDIR)/.rustfmt.toml))
rust_files = $(shell find $(here)/fs/rnetfs $(here)/rust -name '*.rs' \
		      -not -path '*/target/*')

rustfmt rustfmtcheck:
	$(if $(rustfmt_config),,$(error no .rustfmt.toml in $(KDIR) or $(KDIR)/source))
	rustfmt $(if $(filter rustfmtcheck,$@),--check) --edition 2021 \
		--config-path $(rustfmt_config) $(rust_files)

.PHONY: all modules clean modules_install rustfmt rustfmtcheck
