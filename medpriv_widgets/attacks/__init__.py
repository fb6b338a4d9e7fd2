"""attacks"""

# Reconstruction (gradient inversion), issue 4.
from .reconstruction import (Defense, SharedUpdate, client_update,  # noqa: F401
                             reconstruct, reconstruction_sweep, verdict)
