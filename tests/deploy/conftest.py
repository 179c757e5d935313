"""Fixtures for the CDK app's tests: one synthesis per variant, shared by every test.

deploy/ is not part of the installed distribution, so its directory goes on sys.path here.
Synthesis starts a node process through jsii and takes seconds, so each variant is
synthesized once per session (not once per module or test) and every test reads the
same templates.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.deploy.synth import Synthesized, config_document, https_document, synthesize

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy"
sys.path.insert(0, str(DEPLOY_DIR))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def http_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """No certificate, no NAT: HTTP only, tasks in public subnets."""
    pytest.importorskip("aws_cdk")
    return synthesize(config_document(), tmp_path_factory.mktemp("cdk-http"))


@pytest.fixture(scope="session")
def https_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """A certificate and one NAT gateway: HTTPS with redirect, tasks in private subnets."""
    pytest.importorskip("aws_cdk")
    return synthesize(https_document(natGateways=1), tmp_path_factory.mktemp("cdk-https"))
