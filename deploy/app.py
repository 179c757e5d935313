"""CDK entry point: ``cdk synth``/``cdk deploy`` run this from deploy/.

The config file comes from ``SHOAL_DEPLOY_CONFIG`` (default: the example beside this file).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from shoal_deploy.config import ConfigError, load_config  # noqa: E402
from shoal_deploy.stack import build_app  # noqa: E402


def main() -> None:
    path = os.environ.get("SHOAL_DEPLOY_CONFIG") or str(HERE / "config.example.json")
    try:
        config = load_config(path)
    except ConfigError as exc:
        sys.exit(f"SHOAL_DEPLOY_CONFIG {path}: {exc}")
    # cdk passes --output through CDK_OUTDIR; App() picks it up when outdir is None.
    build_app(config).app.synth()


if __name__ == "__main__":
    main()
