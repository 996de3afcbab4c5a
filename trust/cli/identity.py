"""``trustctl identity …``: development tools of the identity capability.

``trustctl identity sim-registry [--host] [--port]`` runs the simulated registry
(``identity.registry_sim``, 模拟数据 / SIMULATED) standalone, signing face and 网证 assertions with
the *published test keys* of ``identity/data/sim_registry.json``. This composition root is the
one place those test keys are loaded; the identity package itself only sees ``Signer``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from trust.cli.context import CliContext, handle_errors, pass_ctx
from trust.crypto.private_keys import SM2PrivateKey, load_sm2_pkcs8
from trust.signing import SignatureAlgorithm, Signer

if TYPE_CHECKING:
    from identity.registry_sim import SimState

__all__ = ["SimKeySigner", "build_sim_state", "register"]


class SimKeySigner:
    """``Signer`` over a published *test* key of the simulator (never a service key)."""

    __slots__ = ("_key", "_key_id")

    def __init__(self, key_id: str, key: SM2PrivateKey) -> None:
        self._key_id = key_id
        self._key = key

    @property
    def algorithm(self) -> SignatureAlgorithm:
        return SignatureAlgorithm.SM2_SM3

    @property
    def key_id(self) -> str:
        return self._key_id

    def public_key_der(self) -> bytes:
        return self._key.public_key().to_der()

    def certificate_chain(self) -> Sequence[bytes]:
        return ()

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def __repr__(self) -> str:
        return f"<SimKeySigner {self._key_id}>"


def build_sim_state() -> SimState:
    """A ``SimState`` with both simulated signers (identity imported lazily: ``--help`` stays
    fast)."""
    from identity.registry_sim import SimState
    from identity.sim_data import load_sim_registry

    data = load_sim_registry()
    face: Signer = SimKeySigner(
        "sim-face", load_sm2_pkcs8(data.face_provider_key.private_key_pkcs8)
    )
    netid: Signer = SimKeySigner("sim-netid", load_sm2_pkcs8(data.network_id_key.private_key_pkcs8))
    return SimState(data=data, face_signer=face, netid_signer=netid)


def register(cli: click.Group) -> None:
    @cli.group("identity")
    def identity_group() -> None:
        """Real-name identity: development tools (模拟数据源)."""

    @identity_group.command("sim-registry")
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=8100, show_default=True, type=int)
    @pass_ctx
    @handle_errors
    def sim_registry(ctx: CliContext, host: str, port: int) -> None:
        """Run the simulated registry (模拟数据 / SIMULATED) on HOST:PORT."""
        import uvicorn

        from identity.registry_sim import create_registry_app

        settings = ctx.settings
        if settings.environment == "production":
            raise click.UsageError("the simulated registry is refused in production")
        state = build_sim_state()
        click.echo(f"模拟数据 / SIMULATED registry on http://{host}:{port}/  (Ctrl-C to stop)")
        uvicorn.run(create_registry_app(state), host=host, port=port, log_level="warning")
