'''ReFrame site configuration: this machine, no batch system, mpirun.

    reframe -C reframe/config/local.py -c reframe/mcpi_checks.py -r

System "local", partition "default": ReFrame's local scheduler runs each job
script here, one at a time (max_jobs 1: two runs sharing the cores would halve
each other's figures), and the mpirun launcher starts the ranks
(`mpirun -np N`). The environment "mcpi" is the shell ReFrame was started
from: cargo, OpenMPI and HDF5 on the PATH (a centre loads modules here).
'''

import os

#: OpenMPI's mpirun refuses root unless both variables are set; CI and
#: containers run as root. More ranks than cores OpenMPI counts are allowed
#: (hyperthreads; a shape wider than the machine).
OPENMPI_ENV = [['OMPI_MCA_rmaps_base_oversubscribe', '1']]
if os.getuid() == 0:
    OPENMPI_ENV += [['OMPI_ALLOW_RUN_AS_ROOT', '1'],
                    ['OMPI_ALLOW_RUN_AS_ROOT_CONFIRM', '1']]

site_configuration = {
    'systems': [
        {
            'name': 'local',
            'descr': 'this machine: local scheduler, mpirun',
            'hostnames': ['.*'],
            'modules_system': 'nomod',
            'partitions': [
                {
                    'name': 'default',
                    'descr': 'the local cores, one job at a time',
                    'scheduler': 'local',
                    'launcher': 'mpirun',
                    'environs': ['mcpi'],
                    'features': ['mpi'],
                    'max_jobs': 1,
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
