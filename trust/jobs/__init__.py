"""Periodic maintenance jobs, scheduled through the database.

Capabilities declare what must happen regularly (``JOBS`` in ``<capability>/jobs.py``: delete
expired OIDC codes, deliver back-channel logouts, expire licences, sweep archive fixity). Every
``trustctl serve`` process runs a small scheduler that claims due jobs in the database, so a
cluster of processes runs each job once per interval; ``trustctl jobs run`` does the same from
cron or a systemd timer where the servers should not (``scheduler = false``).

- ``trust.jobs.model``: the ``scheduled_job`` table (one row per job: next run, lease, outcome);
- ``trust.jobs.schedule``: ``PeriodicJob``, ``JobContext``, claiming and running due jobs;
- ``trust.jobs.registry``: the modules that declare jobs (imported by the composition roots).
"""
