'''mcpi as a ReFrame check: a system regression and performance test.

One build fixture and run-only checks that use it; each run is one
`mcpi run` whose JSON report (mcpi.json in the stage directory) is the only
thing sanity and performance read.

    McpiBuild         fixture: `cargo build --release --locked`, once per
                      environment; the binary is copied into its stage
    McpiCorrectness   the count is exact: verdict PASS and `inside` equal to
                      the known answer, on each ranks x threads shape
    McpiPerformance   samples/s in all, per core and per rank, load imbalance
                      and setup seconds on each shape, against the references
                      in references.py (a centre adds its own systems there)
    McpiScaling       a strong and a weak sweep over rank counts (fixtures,
                      one job per rank count) fed to `mcpi study`: the tables,
                      CSV and SVG plot of `make scaling`, and the sweeps'
                      efficiencies as performance variables

Every run counts SAMPLES samples in batches of BATCH_SIZE with the default
seed, so every count must be KNOWN_INSIDE, whatever the shape (the weak sweep
counts more samples, so it checks the verdict alone). Shapes are written
RxT: 2x1 is two ranks of one thread, 1x2 one rank of two threads.

    reframe -C reframe/config/local.py -c reframe/mcpi_checks.py -r
    reframe ... -P shape=64x1,16x4,4x16 -n McpiPerformance -r  # other shapes
    MCPI_SCALING_RANKS=1,2,4,8,16 reframe ... -n McpiScaling -r  # other sweep
'''

import csv
import json
import os
import runpy

import reframe as rfm
import reframe.utility.sanity as sn
from reframe.core.builtins import (fixture, parameter, performance_function,
                                   run_after, run_before, sanity_function,
                                   variable)
from reframe.core.exceptions import SanityError

#: The mcpi repository: this file is its reframe/mcpi_checks.py.
REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Samples and batch size of every correctness and performance run.
SAMPLES = '2e9'
BATCH_SIZE = '1e7'

#: The inside count of (default seed, 2e9 samples, batches of 1e7), on any
#: number of ranks and threads: the literal of tests/it/known_answers.rs.
KNOWN_INSIDE = 1_570_815_599

#: Labels of the scaling sweeps' runs: `mcpi study` keeps the sweeps apart.
STRONG_LABEL = 'reframe-strong'
WEAK_LABEL = 'reframe-weak'

#: The references of McpiPerformance and McpiScaling (references_file).
REFERENCES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               'references.py')

#: Rank counts of the scaling sweeps (one thread a rank). A sweep's runs are
#: fixtures, which `-P` does not reach: set MCPI_SCALING_RANKS=1,2,4,8 instead.
#: `mcpi study` tells a weak sweep from a strong one by its samples, so a
#: sweep needs two rank counts at least.
SCALING_RANKS = sorted({int(n) for n in
                        os.environ.get('MCPI_SCALING_RANKS', '1,2').split(',')})
if len(SCALING_RANKS) < 2 or SCALING_RANKS[0] < 1:
    raise ValueError(f'MCPI_SCALING_RANKS={os.environ["MCPI_SCALING_RANKS"]}: '
                     f'give two rank counts or more, each at least 1')


class Shape(tuple):
    '''Ranks x threads per rank, written RxT (``2x1``, ``1x2``).

    The type of the ``shape`` parameters, so that ``-P shape=4x1,2x2``
    converts each value.
    '''

    def __new__(cls, spec):
        try:
            parts = spec.lower().split('x') if isinstance(spec, str) else spec
            ranks, threads = (int(n) for n in parts)
        except (TypeError, ValueError):
            raise ValueError(f'shape {spec!r}: write ranks x threads as '
                             f'RxT, e.g. 4x2') from None
        if ranks < 1 or threads < 1:
            raise ValueError(f'shape {ranks}x{threads}: ranks and threads '
                             f'must be at least 1')
        return super().__new__(cls, (ranks, threads))

    @property
    def ranks(self):
        return self[0]

    @property
    def threads(self):
        return self[1]

    def __str__(self):
        return f'{self[0]}x{self[1]}'


def shape_parameter(*specs):
    '''A ``shape`` parameter over these shapes, logged as RxT.'''
    return parameter([Shape(s) for s in specs], type=Shape, fmt=_shape_name)


def _shape_name(shape):
    return str(shape)


def _literal(value):
    '''``value`` as text inside a sanity message (a format string).'''
    return str(value).replace('{', '{{').replace('}', '}}')


def load_references(path, table):
    '''``table`` (PERFORMANCE or SCALING) of the references file ``path``.'''
    try:
        return runpy.run_path(path)[table]
    except (OSError, SyntaxError, KeyError) as e:
        raise ValueError(f'references file {path}: {e!r}') from None


class McpiBuild(rfm.CompileOnlyRegressionTest):
    '''Builds mcpi with `cargo build --release --locked` in the repository.

    Cargo's target directory is kept between ReFrame runs (CARGO_TARGET_DIR,
    else the repository's target/), so a second build only checks that it is
    up to date. The binary is copied into this fixture's stage directory:
    every check of the session runs that copy.
    '''

    descr = 'mcpi: cargo build --release --locked'
    build_system = 'CustomBuild'
    sourcesdir = None
    #: The mcpi source tree (the one this file belongs to, by default).
    repository = variable(str, value=REPOSITORY)

    @run_before('compile')
    def set_build_commands(self):
        target = f'${{CARGO_TARGET_DIR:-{self.repository}/target}}'
        self.build_system.commands = [
            f'cargo build --release --locked '
            f'--manifest-path {self.repository}/Cargo.toml',
            f'cp "{target}/release/mcpi" .',
            './mcpi --version',
        ]

    @sanity_function
    def built(self):
        return sn.assert_found(r'^mcpi \d+\.\d+\.\d+', self.build_stdout,
                               msg='the built mcpi does not run: see the '
                                   'build output')


class McpiRun(rfm.RunOnlyRegressionTest):
    '''One `mcpi run` on shape.ranks ranks of shape.threads threads.

    Sanity, for every run: the report exists and is complete, it ran the
    shape asked for, its verdict is PASS and, unless expected_inside is 0,
    its count is expected_inside.
    '''

    #: Partitions with the feature "mpi" (see reframe/config/).
    valid_systems = ['+mpi']
    #: Environments with the feature "mcpi": cargo (Rust 1.89 or later),
    #: OpenMPI, HDF5, libclang and pkg-config, as `make build` needs.
    valid_prog_environs = ['+mcpi']
    maintainers = ['mcpi']
    time_limit = '10m'
    build = fixture(McpiBuild, scope='environment')
    samples = variable(str, value=SAMPLES)
    batch_size = variable(str, value=BATCH_SIZE)
    #: The count this run must give; 0: none is known (verdict only).
    expected_inside = variable(int, value=KNOWN_INSIDE)
    #: The run's label (`mcpi study` keeps labels apart); none if empty.
    label = variable(str, value='')
    #: The report's prefix, in the stage directory.
    report_prefix = 'mcpi'
    keep_files = ['mcpi.json']

    @run_after('init')
    def set_tasks(self):
        self.num_tasks = self.shape.ranks
        self.num_cpus_per_task = self.shape.threads

    @run_after('setup')
    def set_command(self):
        self.executable = os.path.join(self.build.stagedir, 'mcpi')
        self.executable_opts = [
            'run', '--samples', self.samples, '--batch-size', self.batch_size,
            '--threads', str(self.shape.threads),
            '--output', self.report_prefix, '--progress', 'none',
        ]
        if self.label:
            self.executable_opts += ['--label', self.label]

    @run_before('run')
    def bind_threads(self):
        '''Gives each rank a core per thread.

        srun does it from num_cpus_per_task (ReFrame passes --cpus-per-task);
        mpirun needs to be told, else it binds each rank to one core.
        '''
        launcher = self.job.launcher.registered_name
        if self.shape.threads > 1 and launcher.startswith('mpirun'):
            self.job.launcher.options += [
                '--map-by', f'slot:PE={self.shape.threads}',
                '--bind-to', 'core',
            ]

    def report(self):
        '''The run's JSON report.'''
        path = os.path.join(self.stagedir, f'{self.report_prefix}.json')
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            raise SanityError(f'no report from mcpi ({e}): see '
                              f'{self.job.stderr}') from None

    @sanity_function
    def validate(self):
        report = self.report()
        # Messages are format strings: {0} and {1} are the compared values.
        stopped = _literal(report.get('stopped_by'))
        reason = _literal(report['verdict_reason'])
        checks = [
            sn.assert_eq(report['complete'], True,
                         msg=f'the run did not complete: stopped by {stopped}'),
            sn.assert_eq(report['ranks'], self.shape.ranks,
                         msg='ran on {0} ranks, not {1}'),
            sn.assert_eq(report['threads'], self.shape.threads,
                         msg='ran {0} threads per rank, not {1}'),
            sn.assert_eq(report['verdict'], 'PASS',
                         msg=f'verdict {{0}}, not {{1}}: {reason}'),
        ]
        if self.expected_inside:
            checks.append(sn.assert_eq(
                report['inside'], self.expected_inside,
                msg=f'inside = {{0}}, but seed {report["seed"]}, '
                    f'{self.samples} samples in batches of '
                    f'{self.batch_size} must give {{1}}'))
        return sn.all(checks)


@rfm.simple_test
class McpiCorrectness(McpiRun):
    '''The count is exact on every shape: verdict PASS and the known answer.

    The count is a pure function of (seed, samples, batch size): two ranks
    and one rank of two threads must both give KNOWN_INSIDE.
    '''

    descr = 'mcpi: verdict PASS and the known inside count'
    tags = {'mcpi', 'correctness'}
    shape = shape_parameter('2x1', '1x2')


@rfm.simple_test
class McpiPerformance(McpiRun):
    '''Throughput, balance and start-up on each shape, against references.

    The references live in references.py (references_file): one entry per
    system:partition and shape. A shape or system without one is measured
    and logged, not judged.
    '''

    descr = 'mcpi: samples/s, load imbalance and setup time'
    tags = {'mcpi', 'performance'}
    shape = shape_parameter('1x1', '2x1', '1x2')
    #: Alone on its nodes: a performance figure is about the machine.
    exclusive_access = True
    #: The Python file whose PERFORMANCE table holds the references.
    references_file = variable(str, value=REFERENCES_FILE)

    @run_after('init')
    def set_references(self):
        table = load_references(self.references_file, 'PERFORMANCE')
        self.reference = {
            system: per_shape[str(self.shape)]
            for system, per_shape in table.items()
            if str(self.shape) in per_shape
        }

    @performance_function('samples/s')
    def samples_per_second(self):
        '''Samples counted / the slowest thread's compute seconds.'''
        return self.report()['samples_per_second']

    @performance_function('samples/s')
    def samples_per_second_per_core(self):
        '''The same / (ranks x threads).'''
        return self.report()['samples_per_second_per_core']

    @performance_function('samples/s')
    def samples_per_second_per_rank(self):
        '''The same / ranks.'''
        return self.report()['samples_per_second_per_rank']

    @performance_function('max/mean-1')
    def load_imbalance(self):
        '''Slowest thread's compute seconds / the mean - 1.'''
        return self.report()['load_imbalance']

    @performance_function('s')
    def setup_seconds(self):
        '''Process start until every rank was ready to count (MPI init too).'''
        return self.report()['setup_seconds']


class McpiStrongRun(McpiRun):
    '''A run of the strong sweep: SAMPLES on every rank count.'''

    shape = shape_parameter(*((r, 1) for r in SCALING_RANKS))
    exclusive_access = True
    label = STRONG_LABEL

    @run_after('init')
    def name_report(self):
        self.report_prefix = f'strong-{self.shape}'
        self.keep_files = [f'{self.report_prefix}.json']


class McpiWeakRun(McpiRun):
    '''A run of the weak sweep: SAMPLES on each rank.'''

    shape = shape_parameter(*((r, 1) for r in SCALING_RANKS))
    exclusive_access = True
    label = WEAK_LABEL
    #: Only the 1-rank run counts SAMPLES: no known count for the others.
    expected_inside = 0

    @run_after('init')
    def samples_per_rank(self):
        self.samples = str(int(float(self.samples)) * self.shape.ranks)
        self.report_prefix = f'weak-{self.shape}'
        self.keep_files = [f'{self.report_prefix}.json']


@rfm.simple_test
class McpiScaling(rfm.RunOnlyRegressionTest):
    '''`mcpi study` over a strong and a weak sweep: make scaling's output.

    The sweeps' runs are fixtures (one job per rank count, each with the
    sanity of McpiRun); this check gathers their reports into reports/ and
    writes scaling.csv, scaling.md and scaling.svg, kept in its output
    directory. Sanity: one row per rank count in each sweep, speedup 1 on
    one rank. Performance: speedup and efficiency on the most ranks.
    '''

    descr = 'mcpi: strong and weak scaling, summarised by mcpi study'
    tags = {'mcpi', 'scaling'}
    valid_systems = ['+mpi']
    valid_prog_environs = ['+mcpi']
    maintainers = ['mcpi']
    #: `mcpi study` needs no MPI: it runs where ReFrame does.
    local = True
    time_limit = '5m'
    build = fixture(McpiBuild, scope='environment')
    strong = fixture(McpiStrongRun, scope='environment', action='join')
    weak = fixture(McpiWeakRun, scope='environment', action='join')
    keep_files = ['reports', 'scaling.csv', 'scaling.md', 'scaling.svg']
    #: The Python file whose SCALING table holds the references.
    references_file = variable(str, value=REFERENCES_FILE)

    @run_after('init')
    def set_references(self):
        self.reference = load_references(self.references_file, 'SCALING')

    @run_after('setup')
    def set_command(self):
        reports = [os.path.join(run.stagedir, f'{run.report_prefix}.json')
                   for run in self.strong + self.weak]
        self.prerun_cmds = ['mkdir -p reports',
                            'cp ' + ' '.join(reports) + ' reports/']
        self.executable = os.path.join(self.build.stagedir, 'mcpi')
        self.executable_opts = ['study', 'reports', '--csv', 'scaling.csv',
                                '--markdown', 'scaling.md',
                                '--plot', 'scaling.svg']

    def rows(self, kind):
        '''The CSV rows of one sweep, in rank order.'''
        path = os.path.join(self.stagedir, 'scaling.csv')
        try:
            with open(path, newline='') as f:
                rows = [r for r in csv.DictReader(f) if r['kind'] == kind]
        except OSError as e:
            raise SanityError(f'mcpi study wrote no table ({e}): see '
                              f'{self.job.stderr}') from None
        if not rows:
            raise SanityError(f'no {kind} sweep in {path}')
        return sorted(rows, key=lambda r: int(r['ranks']))

    @sanity_function
    def validate(self):
        checks = [sn.assert_true(os.path.exists(os.path.join(self.stagedir, f)),
                                 msg=f'mcpi study wrote no {f}')
                  for f in ('scaling.md', 'scaling.svg')]
        for kind, label in (('strong', STRONG_LABEL), ('weak', WEAK_LABEL)):
            rows = self.rows(kind)
            checks += [
                sn.assert_eq([int(r['ranks']) for r in rows], SCALING_RANKS,
                             msg=f'{kind} sweep: rank counts {{0}}, not {{1}}'),
                sn.assert_eq({r['label'] for r in rows}, {label},
                             msg=f'{kind} sweep: labels {{0}}, not {{1}}'),
                sn.assert_eq(float(rows[0]['speedup']), 1.0,
                             msg=f'{kind} sweep: speedup {{0}} on one rank'),
            ]
        return sn.all(checks)

    def largest(self, kind, column):
        return float(self.rows(kind)[-1][column])

    @performance_function('')
    def strong_speedup(self):
        return self.largest('strong', 'speedup')

    @performance_function('')
    def strong_efficiency(self):
        return self.largest('strong', 'efficiency')

    @performance_function('')
    def weak_efficiency(self):
        return self.largest('weak', 'efficiency')
