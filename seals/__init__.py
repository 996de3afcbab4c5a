"""Electronic seals per GB/T 38540 (统一电子印章). See issue 4."""
