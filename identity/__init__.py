"""Identity: real-name accounts and OpenID Connect single sign-on (统一身份认证). See issue 3."""
