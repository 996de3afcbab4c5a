"""Electronic licences with GB/T 36904 identifiers (统一电子证照). See issue 5."""
