"""The shared kernel of the one-network trust services: configuration, errors, persistence,
national cryptography, certificate authority, timestamps and the transparency log.

It imports no capability package (identity, seals, licences, archive) and never holds private
keys; those live in ``keys``. ``trust.web`` and ``trust.cli`` are the two composition roots.
"""

__version__ = "0.1.0"
