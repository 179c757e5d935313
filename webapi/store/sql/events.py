"""Following jobs: what makes a job's every change notified.

The notifications themselves are written by the statements that change a job
(``fragments.notify``) and received by one ``LISTEN`` connection per API process.
"""

from __future__ import annotations

# A follower is about to read the job: from now on every change to it is notified.
WATCH = "UPDATE jobs SET watched = true WHERE id = ANY(:job_ids) AND NOT watched"

# Each API process's listener, one per channel (``fragments.CHANNEL`` and the auth
# events); ``{channel}`` is one of our fixed names.
LISTEN = "LISTEN {channel}"
