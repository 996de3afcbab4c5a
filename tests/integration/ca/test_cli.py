"""``ensure_ca`` with the software keystore, and the ``trustctl ca`` / ``trustctl trust-list``
commands through click's test runner, against the test database."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session, sessionmaker

from keys.interfaces import KeyUsage
from keys.software import SoftwareKeyStore
from tests.conftest import MakeCliCtx, shared_path
from tests.integration.ca.conftest import log_kinds
from tests.unit.ca._support import ID_OPT, run_openssl
from trust.ca import service
from trust.ca.crl import parse_crl
from trust.ca.path import validate_chain
from trust.ca.profiles import Profile, leaf_policy
from trust.ca.x509 import parse_certificate, pem_to_der_list
from trust.cli.ca import ensure_ca, register
from trust.cli.context import CliContext
from trust.cli.root import COMMAND_MODULES
from trust.clock import FixedClock
from trust.config import Settings

USCC = "91350100M000100Y43"


def _group() -> click.Group:
    @click.group()
    def trustctl() -> None:
        """Stand-in root."""

    register(trustctl)
    return trustctl


@pytest.fixture
def ctx(make_cli_ctx: MakeCliCtx) -> CliContext:
    return make_cli_ctx()


def run(ctx: CliContext, *args: str) -> Result:
    return CliRunner().invoke(_group(), list(args), obj=ctx, catch_exceptions=False)


def test_commands_are_registered() -> None:
    assert "trust.cli.ca" in COMMAND_MODULES
    group = _group()
    assert set(group.commands["ca"].commands) == {"init", "issue", "revoke", "status", "crl"}  # type: ignore[attr-defined]
    assert set(group.commands["trust-list"].commands) == {"add", "list"}  # type: ignore[attr-defined]


def test_ensure_ca_is_idempotent_and_certifies_tsa_and_log_keys(
    db: sessionmaker[Session], clock: FixedClock, settings: Settings
) -> None:
    keystore = SoftwareKeyStore.from_settings(settings)
    with db() as s, s.begin():
        first = ensure_ca(session=s, clock=clock, keystore=keystore, settings=settings)
    assert set(first.created) == {
        "ca",
        "timestamp_key",
        "timestamp_certificate",
        "transparency_log_key",
        "transparency_log_certificate",
    }
    with db() as s, s.begin():
        second = ensure_ca(session=s, clock=clock, keystore=keystore, settings=settings)
    assert second.created == ()
    assert (second.root_serial, second.tsa_serial, second.log_serial) == (
        first.root_serial,
        first.tsa_serial,
        first.log_serial,
    )
    with db() as s:
        tsa = keystore.active_signer(session=s, usage=KeyUsage.TIMESTAMP)
        chain = list(tsa.certificate_chain())
        assert len(chain) == 3
        assert format(parse_certificate(chain[0]).serial_number, "x") == first.tsa_serial
        result = validate_chain(
            leaf=chain[0],
            intermediates=chain[1:2],
            trust_anchors=service.trust_anchors_der(session=s),
            at=clock.now(),
            policy=leaf_policy(Profile.TIMESTAMP),
            revocation=service.StoredRevocation(s),
        )
        assert result.valid, result.failed
        log_chain = service.certificate_chain_for_key(session=s, key_id=first.log_key_id)
        assert parse_certificate(log_chain[0]).extended_key_usage == ("1.2.156.112233.3.6",)
        cas = keystore.list(session=s, usage=KeyUsage.CA)
        assert {k.owner for k in cas} == {"ca:root", "ca:issuing"}
    kinds = log_kinds(db)
    assert kinds.count("ca.certificate_issued") == 4


def test_ensure_ca_certifies_an_existing_tsa_key(
    db: sessionmaker[Session], clock: FixedClock, settings: Settings
) -> None:
    keystore = SoftwareKeyStore.from_settings(settings)
    with db() as s, s.begin():
        info = keystore.generate(
            session=s, clock=clock, usage=KeyUsage.TIMESTAMP, label="pre", actor="t"
        )
        setup = ensure_ca(session=s, clock=clock, keystore=keystore, settings=settings)
    assert setup.tsa_key_id == info.key_id
    assert "timestamp_key" not in setup.created


def test_issue_from_csr_revoke_crl_and_trust_list(ctx: CliContext, tmp_path: Path) -> None:
    assert run(ctx, "ca", "init").exit_code == 0
    run_openssl("genpkey", "-algorithm", "SM2", "-out", "k.pem", cwd=tmp_path)
    run_openssl(
        "req",
        "-new",
        "-key",
        "k.pem",
        "-sm3",
        "-sigopt",
        ID_OPT,
        "-subj",
        "/CN=Requested",
        "-out",
        "r.csr",
        cwd=tmp_path,
    )
    out = tmp_path / "holder.pem"
    result = run(
        ctx,
        "ca",
        "issue",
        "--profile",
        "seal_holder",
        "--subject-cn",
        "某单位",
        "--org",
        "某某市人民政府",
        "--uscc",
        USCC,
        "--csr",
        str(tmp_path / "r.csr"),
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["profile"] == "seal_holder"
    assert (
        body["subject"] == f"C=CN, O=某某市人民政府, CN=某单位, organizationIdentifier=NTRCN-{USCC}"
    )
    (der,) = pem_to_der_list(out.read_bytes())
    assert format(parse_certificate(der).serial_number, "x") == body["serial"]

    status = json.loads(run(ctx, "ca", "status", body["serial"]).output)
    assert status["status"] == "good"
    revoked = run(ctx, "ca", "revoke", body["serial"], "--reason", "superseded")
    assert revoked.exit_code == 0, revoked.output
    assert json.loads(revoked.output)["reason"] == "superseded"
    crl_file = tmp_path / "crl.der"
    assert run(ctx, "ca", "crl", "--out", str(crl_file)).exit_code == 0
    assert int(body["serial"], 16) in parse_crl(crl_file.read_bytes()).entries
    pem_crl = run(ctx, "ca", "crl").output
    assert pem_crl.startswith("-----BEGIN X509 CRL-----")

    root_pem = shared_path("vectors", "openssl_sm2_chain", "root.pem")
    added = run(ctx, "trust-list", "add", str(root_pem), "--label", "test root")
    assert added.exit_code == 0, added.output
    listed = json.loads(run(ctx, "trust-list", "list", "--json").output)
    assert [a["source"] for a in listed] == ["own", "imported"]
    assert listed[1]["label"] == "test root"
    assert "Test SM2 Root CA" in run(ctx, "trust-list", "list").output


def test_issue_for_a_keystore_key(ctx: CliContext) -> None:
    run(ctx, "ca", "init")
    with ctx.transaction() as s:
        info = ctx.keystore.generate(
            session=s, clock=ctx.clock, usage=KeyUsage.SEAL_MAKER, label="maker", actor="t"
        )
    result = run(
        ctx,
        "ca",
        "issue",
        "--profile",
        "seal_maker",
        "--subject-cn",
        "制章系统",
        "--key-id",
        info.key_id,
    )
    assert result.exit_code == 0, result.output
    (der,) = pem_to_der_list(result.output.encode())
    with ctx.transaction() as s:
        assert service.certificate_chain_for_key(session=s, key_id=info.key_id)[0] == der


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ca", "issue", "--profile", "seal_maker", "--subject-cn", "x"], "exactly one of"),
        (["ca", "revoke", "zz", "--reason", "superseded"], "[ca.bad_serial]"),
        (["ca", "revoke", "abc", "--reason", "superseded"], "[ca.certificate_not_found]"),
        (["ca", "revoke", "abc", "--reason", "onHold"], "[ca.bad_revocation_reason]"),
    ],
)
def test_errors_are_one_line(ctx: CliContext, args: list[str], message: str) -> None:
    run(ctx, "ca", "init")
    result = CliRunner().invoke(_group(), args, obj=ctx)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_commands_before_init_say_so(ctx: CliContext, tmp_path: Path) -> None:
    result = CliRunner().invoke(_group(), ["ca", "crl"], obj=ctx)
    assert result.exit_code == 1
    assert "[ca.not_initialised]" in result.output


def test_ensure_ca_with_a_cli_context_returns_a_summary(ctx: CliContext) -> None:
    """``trustctl init`` calls ``ensure_ca(ctx)`` and prints the summary's items."""
    first = ensure_ca(ctx)
    assert first["created"][0] == "ca"
    assert set(first) == {
        "root_serial",
        "issuing_serial",
        "tsa_key_id",
        "tsa_serial",
        "log_key_id",
        "log_serial",
        "created",
    }
    again = ensure_ca(ctx)
    assert again["created"] == []
    assert again["tsa_serial"] == first["tsa_serial"]
    assert json.loads(json.dumps(again)) == again
