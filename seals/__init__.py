"""Electronic seals per GB/T 38540 (统一电子印章). See issue 4."""

import warnings

# pyHanko imports cryptography's DSA key types, which cryptography >= 51 deprecates with a warning
# on import; DSA is never used here, and the warning would end up on every CLI run's stderr.
warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"pyhanko\.")
