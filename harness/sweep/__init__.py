"""``harness sweep``: many ``harness run`` jobs, on a local process pool or on Ray.

- :mod:`harness.sweep.plan`: the jobs (suites x methods x models x seeds) and their keys.
- :mod:`harness.sweep.job`: one job, ``harness run`` in its own process.
- :mod:`harness.sweep.backends`: the local pool and Ray tasks.
- :mod:`harness.sweep.driver`: skip what is done, run the rest, retry, record.

Each job's run directory is ``<out>/<job name>``, an ordinary run: ``harness
leaderboard --runs <out>`` and ``harness compare`` work on a sweep unchanged.
"""
