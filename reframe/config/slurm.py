'''ReFrame site configuration: a Slurm cluster, srun.

    SLURM_CONF=DIR/slurm.conf \
        reframe -C reframe/config/slurm.py -c reframe/mcpi_checks.py -r

System "mcpi-slurm", partition "debug": the private one-node cluster of the
tests (tests/slurm/cluster.sh), and a template for a centre's own. Jobs go to
Slurm with sbatch; srun starts the ranks (PMIx, Slurm's MpiDefault), with
--cpus-per-task from the check's threads.

The scheduler is "squeue": the test cluster keeps no accounting
(AccountingStorageType=accounting_storage/none), and ReFrame's "slurm"
scheduler asks sacct for a job's state and exit code. On a cluster with
accounting (slurmdbd) use "slurm": it also sees a job's exit code, which
squeue, forgetting a job once it ends, cannot.
'''

import os

#: OpenMPI's processes refuse root unless both variables are set (the
#: private cluster runs jobs as root); oversubscription as in local.py.
OPENMPI_ENV = [['OMPI_MCA_rmaps_base_oversubscribe', '1']]
if os.getuid() == 0:
    OPENMPI_ENV += [['OMPI_ALLOW_RUN_AS_ROOT', '1'],
                    ['OMPI_ALLOW_RUN_AS_ROOT_CONFIRM', '1']]

site_configuration = {
    'systems': [
        {
            'name': 'mcpi-slurm',
            'descr': 'a Slurm cluster: sbatch, srun',
            'hostnames': ['.*'],
            'modules_system': 'nomod',
            'partitions': [
                {
                    'name': 'debug',
                    'descr': 'Slurm partition debug',
                    'scheduler': 'squeue',
                    'launcher': 'srun',
                    'access': ['--partition=debug'],
                    'environs': ['mcpi'],
                    'features': ['mpi'],
                    # The test cluster is one 2-core machine: a job at a
                    # time, as a centre's node-exclusive jobs would run.
                    'max_jobs': 1,
                    'time_limit': '10m',
                },
            ],
        },
    ],
    'environments': [
        {
            'name': 'mcpi',
            'features': ['mcpi'],
            'env_vars': OPENMPI_ENV,
        },
    ],
}
