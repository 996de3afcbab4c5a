"""``trustctl ca issue | revoke | crl | status | init`` and ``trustctl trust-list add | list``;
plus ``ensure_ca``, which ``trustctl init`` calls to set up the CA, the TSA and the log key.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import click
from sqlalchemy.orm import Session

from keys.interfaces import KeyStore, KeyUsage
from trust.ca import service
from trust.ca.names import SubjectName
from trust.ca.profiles import LEAF_PROFILES, Profile
from trust.ca.records import IssuedCertificate, TrustAnchor
from trust.cli.context import CliContext, echo_json, handle_errors, pass_ctx
from trust.clock import Clock
from trust.config import Settings
from trust.errors import InvalidInput, NotFound
from trust.signing import SignatureAlgorithm, Signer

__all__ = ["CaSetup", "certified_service_key", "ensure_ca", "register"]

ACTOR = "cli"
ROOT_OWNER = "ca:root"
ISSUING_OWNER = "ca:issuing"
_PROFILES = sorted(p.value for p in LEAF_PROFILES)


@dataclass(frozen=True, slots=True)
class CaSetup:
    """What ``ensure_ca`` found or made. ``created`` names what this call created."""

    root_serial: str
    issuing_serial: str
    tsa_key_id: str
    tsa_serial: str
    log_key_id: str
    log_serial: str
    created: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "root_serial": self.root_serial,
            "issuing_serial": self.issuing_serial,
            "tsa_key_id": self.tsa_key_id,
            "tsa_serial": self.tsa_serial,
            "log_key_id": self.log_key_id,
            "log_serial": self.log_serial,
            "created": list(self.created),
        }


def _ca_signer(
    session: Session, clock: Clock, keystore: KeyStore, owner: str, label: str
) -> Signer:
    try:
        return keystore.active_signer(session=session, usage=KeyUsage.CA, owner=owner)
    except NotFound:
        info = keystore.generate(
            session=session,
            clock=clock,
            usage=KeyUsage.CA,
            algorithm=SignatureAlgorithm.SM2_SM3,
            label=label,
            owner=owner,
            actor=ACTOR,
        )
        return keystore.signer(session=session, key_id=info.key_id)


def certified_service_key(
    session: Session,
    clock: Clock,
    keystore: KeyStore,
    settings: Settings,
    *,
    usage: KeyUsage,
    profile: Profile,
    common_name: str,
    created: list[str],
) -> tuple[str, str]:
    """The active key of ``usage`` (generated if missing) and its certificate (issued if
    missing): ``(key_id, serial)``."""
    try:
        signer = keystore.active_signer(session=session, usage=usage)
        key_id, public_key = signer.key_id, signer.public_key_der()
    except NotFound:
        info = keystore.generate(
            session=session,
            clock=clock,
            usage=usage,
            algorithm=SignatureAlgorithm.SM2_SM3,
            label=common_name,
            actor=ACTOR,
        )
        key_id, public_key = info.key_id, info.public_key_der
        created.append(f"{usage.value}_key")
    existing = service.certificate_for_key(session=session, key_id=key_id)
    if existing is not None:
        return key_id, existing.serial
    issuing = keystore.signer(session=session, key_id=service.authority_key_id(session=session))
    issued = service.issue_certificate(
        session=session,
        clock=clock,
        issuer_signer=issuing,
        subject_public_key_der=public_key,
        subject=SubjectName.create(common_name=common_name, organization=settings.ca_name),
        profile=profile,
        key_id=key_id,
        actor=ACTOR,
    )
    created.append(f"{profile.value}_certificate")
    return key_id, issued.serial


@overload
def ensure_ca(ctx: CliContext, /) -> dict[str, Any]: ...


@overload
def ensure_ca(
    *, session: Session, clock: Clock, keystore: KeyStore, settings: Settings
) -> CaSetup: ...


def ensure_ca(
    ctx: CliContext | None = None,
    /,
    *,
    session: Session | None = None,
    clock: Clock | None = None,
    keystore: KeyStore | None = None,
    settings: Settings | None = None,
) -> CaSetup | dict[str, Any]:
    """Idempotently create the SM2 root and issuing CA (keys in ``keystore``, usage CA, owners
    ``ca:root`` / ``ca:issuing``), then certify the active TIMESTAMP key (timestamp profile) and
    TRANSPARENCY_LOG key, generating those keys if missing.

    ``ensure_ca(ctx)`` (what ``trustctl init`` calls) runs in its own transaction and returns a
    JSON-ready summary; ``ensure_ca(session=, clock=, keystore=, settings=)`` runs in the
    caller's transaction and returns ``CaSetup``."""
    if ctx is not None:
        with ctx.transaction() as own_session:
            setup = _ensure(own_session, ctx.clock, ctx.keystore, ctx.settings)
        return setup.as_dict()
    if session is None or clock is None or keystore is None or settings is None:
        raise TypeError("ensure_ca needs a CliContext or session, clock, keystore and settings")
    return _ensure(session, clock, keystore, settings)


def _ensure(session: Session, clock: Clock, keystore: KeyStore, settings: Settings) -> CaSetup:
    created: list[str] = []
    if not service.is_initialised(session=session):
        root = _ca_signer(session, clock, keystore, ROOT_OWNER, "CA root")
        issuing = _ca_signer(session, clock, keystore, ISSUING_OWNER, "CA issuing")
        service.init_ca(
            session=session,
            clock=clock,
            root_signer=root,
            issuing_signer=issuing,
            name=settings.ca_name,
            crl_url=f"{settings.public_base_url.rstrip('/')}/ca/crl",
            actor=ACTOR,
        )
        created.append("ca")
    root_serial = service.authority_certificate(session=session, role="root").serial
    issuing_serial = service.authority_certificate(session=session, role="issuing").serial
    tsa_key, tsa_serial = certified_service_key(
        session,
        clock,
        keystore,
        settings,
        usage=KeyUsage.TIMESTAMP,
        profile=Profile.TIMESTAMP,
        common_name=f"{settings.ca_name} 时间戳服务",
        created=created,
    )
    log_key, log_serial = certified_service_key(
        session,
        clock,
        keystore,
        settings,
        usage=KeyUsage.TRANSPARENCY_LOG,
        profile=Profile.TRANSPARENCY_LOG,
        common_name=f"{settings.ca_name} 透明日志",
        created=created,
    )
    return CaSetup(
        root_serial, issuing_serial, tsa_key, tsa_serial, log_key, log_serial, tuple(created)
    )


def _issued_json(issued: IssuedCertificate) -> dict[str, Any]:
    return {
        "serial": issued.serial,
        "profile": issued.profile.value,
        "subject": issued.subject,
        "issuer": issued.issuer,
        "key_id": issued.key_id,
        "not_before": issued.not_before.isoformat(),
        "not_after": issued.not_after.isoformat(),
    }


def _anchor_json(anchor: TrustAnchor) -> dict[str, Any]:
    return {
        "id": anchor.id,
        "subject": anchor.subject,
        "fingerprint_sm3": anchor.fingerprint_sm3,
        "source": anchor.source,
        "label": anchor.label,
        "not_after": anchor.not_after.isoformat(),
    }


@click.group("ca")
def ca_group() -> None:
    """Certificate authority: issue, revoke, publish the CRL."""


@ca_group.command("init")
@pass_ctx
@handle_errors
def init_cmd(ctx: CliContext) -> None:
    """Create the CA, TSA and log certificates if missing (``trustctl init`` does this too)."""
    with ctx.transaction() as session:
        setup = ensure_ca(
            session=session, clock=ctx.clock, keystore=ctx.keystore, settings=ctx.settings
        )
    echo_json(setup.as_dict())


@ca_group.command("issue")
@click.option("--profile", required=True, type=click.Choice(_PROFILES), help="Certificate profile")
@click.option("--subject-cn", help="Subject common name (default: the CSR's subject)")
@click.option("--org", help="Subject organisation (O)")
@click.option("--ou", help="Subject organisational unit (OU)")
@click.option("--uscc", help="统一社会信用代码 (written as organizationIdentifier NTRCN-...)")
@click.option("--csr", "csr_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key-id", help="Certify a key held in this service's keystore")
@click.option("--validity-days", type=int, help="Validity (default: the profile's)")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the PEM here")
@pass_ctx
@handle_errors
def issue_cmd(
    ctx: CliContext,
    profile: str,
    subject_cn: str | None,
    org: str | None,
    ou: str | None,
    uscc: str | None,
    csr_file: Path | None,
    key_id: str | None,
    validity_days: int | None,
    out: Path | None,
) -> None:
    """Issue a certificate for a PKCS#10 request (--csr) or a keystore key (--key-id)."""
    if (csr_file is None) == (key_id is None):
        raise InvalidInput("give exactly one of --csr or --key-id", code="cli.bad_arguments")
    subject = None
    if subject_cn is not None:
        subject = SubjectName.create(
            common_name=subject_cn, organization=org, organizational_unit=ou, uscc=uscc
        )
    elif key_id is not None or org or ou or uscc:
        raise InvalidInput("--subject-cn is required with these options", code="cli.bad_arguments")
    with ctx.transaction() as session:
        issuer = ctx.keystore.signer(
            session=session, key_id=service.authority_key_id(session=session)
        )
        if csr_file is not None:
            issued = service.issue_from_csr(
                session=session,
                clock=ctx.clock,
                issuer_signer=issuer,
                csr=csr_file.read_bytes(),
                profile=profile,
                subject=subject,
                validity_days=validity_days,
                actor=ACTOR,
            )
        else:
            assert key_id is not None
            assert subject is not None
            info = ctx.keystore.get(session=session, key_id=key_id)
            issued = service.issue_certificate(
                session=session,
                clock=ctx.clock,
                issuer_signer=issuer,
                subject_public_key_der=info.public_key_der,
                subject=subject,
                profile=profile,
                key_id=key_id,
                validity_days=validity_days,
                actor=ACTOR,
            )
    if out is not None:
        out.write_text(issued.pem, encoding="ascii")
        echo_json(_issued_json(issued))
    else:
        click.echo(issued.pem, nl=False)


@ca_group.command("revoke")
@click.argument("serial")
@click.option("--reason", required=True, help="RFC 5280 reason, e.g. key_compromise, superseded")
@pass_ctx
@handle_errors
def revoke_cmd(ctx: CliContext, serial: str, reason: str) -> None:
    """Revoke a certificate (permanently)."""
    with ctx.transaction() as session:
        status = service.revoke(
            session=session, clock=ctx.clock, serial=serial, reason=reason, actor=ACTOR
        )
    echo_json(
        {
            "serial": status.serial,
            "status": status.status,
            "reason": status.reason,
            "revoked_at": status.revoked_at,
        }
    )


@ca_group.command("status")
@click.argument("serial")
@pass_ctx
@handle_errors
def status_cmd(ctx: CliContext, serial: str) -> None:
    """Show a certificate's status."""
    with ctx.transaction() as session:
        status = service.certificate_status(session=session, clock=ctx.clock, serial=serial)
    echo_json({k: getattr(status, k) for k in status.__slots__})


@ca_group.command("crl")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write DER here")
@pass_ctx
@handle_errors
def crl_cmd(ctx: CliContext, out: Path | None) -> None:
    """Publish a new CRL of the issuing CA (DER to --out, else PEM on stdout)."""
    with ctx.transaction() as session:
        issuer = ctx.keystore.signer(
            session=session, key_id=service.authority_key_id(session=session)
        )
        der = service.build_crl(session=session, clock=ctx.clock, issuer_signer=issuer, actor=ACTOR)
    if out is not None:
        out.write_bytes(der)
        return
    body = base64.encodebytes(der).decode("ascii")
    click.echo(f"-----BEGIN X509 CRL-----\n{body}-----END X509 CRL-----")


@click.group("trust-list")
def trust_list_group() -> None:
    """Trust anchors that verifiers accept."""


@trust_list_group.command("add")
@click.argument("pem_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--label", help="A note shown with the anchor")
@pass_ctx
@handle_errors
def trust_add_cmd(ctx: CliContext, pem_file: Path, label: str | None) -> None:
    """Import the CA certificate(s) in PEM_FILE as trust anchors."""
    with ctx.transaction() as session:
        anchors = service.add_trust_anchor(
            session=session, clock=ctx.clock, pem=pem_file.read_bytes(), actor=ACTOR, label=label
        )
    echo_json([_anchor_json(a) for a in anchors])


@trust_list_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@pass_ctx
@handle_errors
def trust_list_cmd(ctx: CliContext, as_json: bool) -> None:
    """List the trust anchors (this service's root first)."""
    with ctx.transaction() as session:
        anchors = service.list_trust_anchors(session=session)
    if as_json:
        echo_json([_anchor_json(a) for a in anchors])
        return
    if not anchors:
        click.echo("no trust anchors")
    for a in anchors:
        click.echo(
            f"{a.id}  {a.source:<8} {a.fingerprint_sm3[:16]}  {a.not_after:%Y-%m-%d}  {a.subject}"
        )


def register(cli: click.Group) -> None:
    cli.add_command(ca_group)
    cli.add_command(trust_list_group)
