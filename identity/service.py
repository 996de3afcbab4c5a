"""The identity service API: real-name accounts, verification with evidence, authentication
factors, agents and claims. The OpenID Provider (``identity.oidc``) builds on these functions.

Conventions: every function is keyword-only, receives its collaborators (``session``, ``clock``,
``keys`` = ``IdentityKeys``, ``verifiers`` = ``Verifiers``, ``sender`` = ``SmsSender``, ``config``
= ``IdentityConfig``), runs in the caller's transaction and never commits. Grants and
verifications are appended to the transparency log in that transaction; security events go to
``identity_security_event``. Errors are ``trust.errors.TrustError`` subclasses with stable codes
(``identity.*``, ``citizen_id.*``, ``uscc.*``). Results are frozen values from
``identity.records``.

Typical OIDC login::

    result = authenticate_password(session=s, clock=c, keys=k, login=..., password=...,
                                   client_ip=ip, policy=AuthPolicy.from_config(cfg))
    if result.ok and need_more:  # e.g. requested acr above what pwd alone gives
        verify_second_factor(session=s, clock=c, keys=k, person_id=result.person_id,
                             method="otp", code=...)
    acr = acr_for(result.proofing_level, amr)          # identity.assurance
    orgs = authorisations_for(session=s, clock=c, person_id=...)   # organisation selection
    claims = person_claims(...) | legal_person_claims(...)
"""

from identity.assurance import AcrValue, ProofingLevel, acr_at_least, acr_for, auth_strength
from identity.service_accounts import (
    get_organisation,
    get_person,
    organisations_represented_by,
    register_organisation,
    register_person,
    set_password,
)
from identity.service_agents import (
    authorisations_for,
    get_authorisation,
    grant_agent,
    list_agents,
    revoke_agent,
)
from identity.service_auth import (
    AuthPolicy,
    authenticate_password,
    confirm_totp,
    enrol_totp,
    send_sms_code,
    verify_second_factor,
)
from identity.service_claims import (
    grant_consent,
    has_consent,
    legal_person_claims,
    person_claims,
    revoke_consent,
)
from identity.service_verify import (
    accept_face_assertion,
    accept_network_id_assertion,
    complete_phone_verification,
    list_evidence,
    start_face_verification,
    start_network_id_verification,
    start_phone_verification,
    verify_bank_card,
    verify_enterprise,
    verify_population,
)

__all__ = [
    "AcrValue",
    "AuthPolicy",
    "ProofingLevel",
    "accept_face_assertion",
    "accept_network_id_assertion",
    "acr_at_least",
    "acr_for",
    "auth_strength",
    "authenticate_password",
    "authorisations_for",
    "complete_phone_verification",
    "confirm_totp",
    "enrol_totp",
    "get_authorisation",
    "get_organisation",
    "get_person",
    "grant_agent",
    "grant_consent",
    "has_consent",
    "legal_person_claims",
    "list_agents",
    "list_evidence",
    "organisations_represented_by",
    "person_claims",
    "register_organisation",
    "register_person",
    "revoke_agent",
    "revoke_consent",
    "send_sms_code",
    "set_password",
    "start_face_verification",
    "start_network_id_verification",
    "start_phone_verification",
    "verify_bank_card",
    "verify_enterprise",
    "verify_population",
    "verify_second_factor",
]
