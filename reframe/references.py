'''Performance references of mcpi's ReFrame checks (reframe/mcpi_checks.py).

Data only: the checks read PERFORMANCE and SCALING from this file (or from
the file their references_file variable names: -S references_file=PATH).
A centre adds a line per system:partition it runs on, and per shape; the
checks stay as they are. A system:partition or shape with no entry here is
measured and logged in the perflogs, not judged.

Each entry is ReFrame's (reference, lower, upper, unit): lower and upper are
fractions of the reference (-0.3: at most 30% below it; None: unbounded),
and the unit must be the performance variable's.

PERFORMANCE['system:partition']['RxT'] = {variable: entry}, for
McpiPerformance's shapes (R ranks of T threads); its variables:

    samples_per_second            samples counted / slowest compute seconds
    samples_per_second_per_core   the same / (ranks x threads)
    samples_per_second_per_rank   the same / ranks
    load_imbalance                max / mean compute seconds - 1
    setup_seconds                 process start until all ranks could count

SCALING['system:partition'] = {variable: entry}, for McpiScaling: the
speedup and efficiency (speedup / cores) on the sweep's most ranks, from
`mcpi study` (throughput there is samples / wall seconds, start-up included).
'''

# This machine: 2 vCPUs of a Xeon (Sapphire Rapids, AVX-512) under KVM,
# kernel avx512, about 2.7e9 samples/s on a core (README: Performance). It is
# a shared virtual machine, hence 30% below the reference still passes; a
# centre with nodes of its own can hold its references to -0.1.
_CORE = 2.7e9


def _shape(ranks, threads):
    '''References of a run of `ranks` ranks x `threads` threads here.'''
    return {
        'samples_per_second':
            (_CORE * ranks * threads, -0.3, None, 'samples/s'),
        'samples_per_second_per_core': (_CORE, -0.3, None, 'samples/s'),
        'samples_per_second_per_rank':
            (_CORE * threads, -0.3, None, 'samples/s'),
        'load_imbalance': (0.05, None, 1.0, 'max/mean-1'),  # at most 0.10
        'setup_seconds': (0.3, None, 2.0, 's'),             # at most 0.9 s
    }


PERFORMANCE = {
    # `make reframe`: this machine, reframe/config/local.py.
    'local:default': {
        '1x1': _shape(1, 1),
        '2x1': _shape(2, 1),
        '1x2': _shape(1, 2),
    },
    # The private test cluster (tests/slurm/cluster.sh) on this machine,
    # reframe/config/slurm.py.
    'mcpi-slurm:debug': {
        '1x1': _shape(1, 1),
        '2x1': _shape(2, 1),
        '1x2': _shape(1, 2),
    },
    # A centre's own lines, for example:
    # 'daint:mc': {
    #     '1x1': {'samples_per_second': (2.1e9, -0.1, None, 'samples/s')},
    #     '36x1': {'samples_per_second': (7.4e10, -0.1, None, 'samples/s'),
    #              'load_imbalance': (0.02, None, 1.5, 'max/mean-1')},
    #     '4x9': {'samples_per_second': (7.4e10, -0.1, None, 'samples/s')},
    # },
}

# 2e9 samples: on 2 ranks each counts for about 0.4 s, beside about 0.25 s of
# start-up that both rank counts pay, so 2 ranks reach a speedup of about 1.6.
_SWEEP = {
    'strong_speedup': (1.6, -0.3, None, ''),
    'strong_efficiency': (0.8, -0.3, None, ''),
    'weak_efficiency': (0.95, -0.3, None, ''),
}

SCALING = {
    'local:default': _SWEEP,
    'mcpi-slurm:debug': _SWEEP,
}
