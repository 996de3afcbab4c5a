"""Key custody: the only package that holds private keys. Everything else gets a Signer."""
