# mcpi — the two commands:
#   make run    set up, build, run the default job on all cores, print the report
#   make test   set up, then the whole test suite (what CI runs)
# Other targets: build, bench (criterion + table), bench-checkpoint (one
#   checkpoint's cost after 10^5..10^7 batches; a run's overhead), compare (vs
#   C and Python), scaling (strong and weak sweeps with mpirun: table + SVG),
#   reframe (the ReFrame checks in reframe/ on this machine), cluster-test (the
#   emulated multi-node tests alone), lint, clean.
# Override: make run NP=4 ARGS='--samples 1e11'   (reports go to results/)

NP      ?= $(shell nproc)
ARGS    ?=
MCPI    := $(abspath $(or $(CARGO_TARGET_DIR),target)/release/mcpi)
# ReFrame's virtual environment (scripts/setup-reframe.sh), in the build directory.
VENV    := $(abspath $(or $(CARGO_TARGET_DIR),target)/reframe-venv)
RFM_ARGS ?=

# mpirun refuses root unless told; CI and containers run as root. NP may exceed
# the cores OpenMPI counts (hyperthreads, NP=8 on a laptop): allow it.
ifeq ($(shell id -u),0)
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
endif
export OMPI_MCA_rmaps_base_oversubscribe := 1

.PHONY: run test setup setup-slurm setup-reframe build lint bench bench-checkpoint compare scaling reframe clean cluster-test

run: build
	@mkdir -p results
	cd results && mpirun -n $(NP) $(MCPI) run $(ARGS)

test: setup setup-slurm setup-reframe lint
	cargo test --release

setup:
	@scripts/setup.sh

# Slurm and MUNGE, for the tests that submit slurm/*.sbatch to a private cluster.
setup-slurm:
	@scripts/setup-slurm.sh

# ReFrame 4.10 (pinned: reframe/requirements.txt) in $(VENV); python3-venv
# with apt as root when Python cannot make a virtual environment.
setup-reframe:
	@VENV=$(VENV) scripts/setup-reframe.sh

# The ReFrame checks (reframe/mcpi_checks.py) here: local scheduler, mpirun.
# Output, stage, perflogs and the JSON run report go to results/reframe/.
# Override: make reframe RFM_ARGS='-n McpiPerformance -P shape=1x1,2x1'
reframe: build setup-reframe
	$(VENV)/bin/reframe -C reframe/config/local.py -c reframe/mcpi_checks.py \
	  --prefix results/reframe --report-file results/reframe/report.json $(RFM_ARGS) -r

# The multi-node tests alone, as root: mpirun across hosts and a 3-node Slurm
# cluster on an emulated cluster of network namespaces (tests/cluster/netcluster.sh).
cluster-test: setup setup-slurm
	cargo build --release
	cargo test --release --test it multinode -- --nocapture

build: setup
	cargo build --release

lint: setup
	cargo fmt --all -- --check
	RUSTDOCFLAGS='-D warnings' cargo doc --no-deps --quiet
	cargo clippy --release --all-targets -- -D warnings

bench: setup
	cargo bench --bench kernel
	@python3 scripts/bench_table.py

# One checkpoint's cost after 10^5, 10^6, 10^7 batches done (criterion), then
# the whole-run overhead of --checkpoint-interval 0.5s at 10^7 batches on one
# rank (interleaved runs, medians). REPEATS=5 for more runs; BASE=other/mcpi to
# measure another build beside this one; MCPI_BENCH_DIR for the checkpoints'
# file system (default results/).
bench-checkpoint: build
	cargo bench --bench checkpoint
	MCPI=$(MCPI) python3 scripts/checkpoint_overhead.py

compare: build
	@mkdir -p results
	MCPI=$(MCPI) scripts/compare.sh | tee results/compare.md

scaling: build
	MCPI=$(MCPI) scripts/scaling.sh

clean:
	cargo clean
