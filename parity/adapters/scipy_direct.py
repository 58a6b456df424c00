"""scipy: ``scipy.signal.correlate(a, b, mode="valid", method="direct")``, the sum the definition states, in
the arrays' dtype. How a conv layer maps onto it: :mod:`parity.adapters._scipy`."""
from parity.adapters._scipy import ScipyAdapter

ADAPTER = ScipyAdapter("scipy_direct", method="direct")
