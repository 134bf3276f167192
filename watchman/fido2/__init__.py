"""FIDO2 hardware keys: hmac-secret key derivation (derive.py); the keyring, encrypted files and the
secrets store (vault.py). Design notes: docs/domains/fido2.md."""
