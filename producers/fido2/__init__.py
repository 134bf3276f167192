"""The FIDO2 domain's producer: the keyring and which backup jobs encrypt to its keys."""
