"""A custom job type as an installed package, for processes to find on PYTHONPATH.

The package has ``types.py`` (registered in ``shoal.job_types``) and ``handlers.py``
(in ``shoal.handlers``), as docs/custom-job-types.md describes.
"""

from __future__ import annotations

import textwrap
from pathlib import Path


def install_job_package(root: Path, name: str, types: str, handlers: str) -> Path:
    """Package ``name`` with these two modules' sources in ``root``; returns ``root``."""
    (root / name).mkdir(parents=True)
    (root / name / "__init__.py").write_text("")
    (root / name / "types.py").write_text(textwrap.dedent(types))
    (root / name / "handlers.py").write_text(textwrap.dedent(handlers))
    dist = name.replace("_", "-")
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[shoal.job_types]\n{name} = {name}.types:job_types\n\n"
        f"[shoal.handlers]\n{name} = {name}.handlers:register\n"
    )
    return root
