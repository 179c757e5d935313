"""The config file is validated before anything is synthesized; errors name the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from shoal_deploy.config import ConfigError, DeployConfig, load_config, parse_config

from tests.deploy.synth import CERTIFICATE_ARN, config_document, https_document


def _parse(document: Any) -> DeployConfig:
    return parse_config(document)


def _job_type(index: int, **changes: Any) -> dict[str, Any]:
    job_types = config_document()["jobTypes"]
    job_types[index].update(changes)
    return {"jobTypes": job_types}


def test_example_config_is_valid() -> None:
    config = load_config(Path(__file__).resolve().parents[2] / "deploy" / "config.example.json")
    assert [job_type.name for job_type in config.job_types] == ["TEST", "POLYGON_STATS"]
    assert config.results.prefix == "results/"
    # The example is what people copy: it serves HTTPS, not passwords in clear.
    assert config.https
    assert not config.allow_plain_http


def test_defaults_and_normalisation() -> None:
    config = _parse(config_document())
    assert config.database.instance_class == "t4g.micro"
    assert config.database.deletion_protection is True
    assert config.manager.desired_count == 1
    assert config.results.bucket_name is None
    assert config.results.cors_origins == ("*",)
    test, polygon = config.job_types
    assert test.image == config.images.worker
    assert test.command == ("shoal", "worker", "--job-types", "TEST")
    assert polygon.image == "ghcr.io/example/polygon-worker:2"


def test_certificate_turns_on_https() -> None:
    config = _parse(https_document(domain="api.example.org"))
    assert config.https
    assert not config.allow_plain_http
    assert config.domain == "api.example.org"


def test_plain_http_only_when_asked_for() -> None:
    config = _parse(config_document(allowPlainHttp=True))
    assert config.allow_plain_http
    assert not config.https
    for document in (config_document(allowPlainHttp=None), config_document(allowPlainHttp=False)):
        with pytest.raises(ConfigError, match=r"^certificateArn: is required .*allowPlainHttp"):
            _parse(document)


def _without(key: str) -> dict[str, Any]:
    document = config_document()
    del document[key]
    return document


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (_without("region"), "region: is required"),
        (config_document(region="Ireland"), "region: must be an AWS region"),
        (config_document(namePrefix="Shoal_Prod"), "namePrefix:"),
        (config_document(natGateways=-1), "natGateways: must be between 0 and 3"),
        (config_document(certificateArn=CERTIFICATE_ARN), "domain: is required when"),
        (config_document(certificateArn="arn:nope"), "certificateArn: must be an ACM"),
        (https_document(allowPlainHttp=True), "allowPlainHttp: must not be true when"),
        (config_document(allowPlainHttp="yes"), "allowPlainHttp: must be true or false"),
        (
            config_document(database={"instanceClass": "db.t4g.micro", "allocatedStorageGb": 20,
                                      "multiAz": "no", "backupRetentionDays": 7}),
            "database.multiAz: must be true or false",
        ),
        (
            config_document(database={"instanceClass": "db.t4g.micro", "allocatedStorageGb": 20,
                                      "multiAz": False, "backupRetentionDays": 0}),
            "database.backupRetentionDays: must be between 1 and 35",
        ),
        (config_document(results={"expireAfterDays": 30, "prefix": "/x"}), "results.prefix:"),
        (config_document(webapi={"cpu": 300, "memory": 1024}), "webapi.cpu: must be one of"),
        (config_document(manager={"cpu": 256, "memory": 512, "desiredCount": 2}),
         "manager.desiredCount: must be between 0 and 1"),
        (config_document(**_job_type(1, memory=512)), "jobTypes[1].memory: must be 2048-8192"),
        (config_document(**_job_type(0, max=-1)), "jobTypes[0].max: must be between"),
        (config_document(**_job_type(1, min=9)), "jobTypes[1].max: must be at least min (9)"),
        (config_document(**_job_type(1, name="TEST")), "jobTypes[1].name: duplicate job type"),
        (config_document(**_job_type(0, sensitivity="high")), "jobTypes[0].sensitivity: must be"),
        (config_document(**_job_type(0, name="test")), "jobTypes[0].name: must be an upper-case"),
        (config_document(**_job_type(0, factor=0)), "jobTypes[0].factor: must be greater than 0"),
        (config_document(**_job_type(0, comand=["x"])), "jobTypes[0].comand: is not a known"),
        (config_document(jobTypes=[]), "jobTypes: must list at least one"),
        (config_document(images="shoal:latest"), "images: must be a JSON object"),
        (config_document(databse={}), "databse: is not a known field"),
    ],
)  # fmt: skip
def test_bad_values_name_the_field(document: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _parse(document)
    assert str(raised.value).startswith(field), str(raised.value)


def test_bad_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config_document(**_job_type(0, cpu=100))), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^jobTypes\[0\]\.cpu: must be between 256"):
        load_config(path)


def test_unreadable_or_malformed_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(path)


def test_registered_types_defaults_allow_no_image() -> None:
    document = config_document()
    del document["registeredTypes"]
    types = _parse(document).registered_types
    assert (types.cpu, types.memory, types.secrets_prefix) == (256, 512, "shoaltest/types/")
    assert types.image_prefixes("123456789012", "eu-west-1") == []


def test_registered_types_image_prefixes_name_exact_repositories() -> None:
    types = _parse(config_document()).registered_types
    assert types.image_prefixes("123456789012", "eu-west-1") == [
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/lab/models:",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/lab/models@",
        "ghcr.io/lab/",
    ]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"ecrRepositories": ["Lab Models"]}, r"^registeredTypes\.ecrRepositories\[0\]: "),
        ({"allowedImages": ["*"]}, r"^registeredTypes\.allowedImages\[0\]: must be an image"),
        ({"allowedImages": ["ubuntu"]}, r"^registeredTypes\.allowedImages\[0\]: "),
        ({"secretsPrefix": "types"}, r"^registeredTypes\.secretsPrefix: must be a path"),
        ({"cpu": 1024}, r"^registeredTypes\.memory: is required"),
        ({"cpu": 256, "memory": 4096}, r"^registeredTypes\.memory: must be 512-2048"),
        ({"images": []}, r"^registeredTypes\.images: is not a known field"),
    ],
)
def test_a_bad_registered_types_section_names_the_field(
    section: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _parse(config_document(registeredTypes=section))
