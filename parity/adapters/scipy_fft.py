"""scipy: ``scipy.signal.correlate(a, b, mode="valid", method="fft")``, the correlation as a product of real
FFTs (``scipy.signal.fftconvolve`` of the reversed kernel). How a conv layer maps onto it:
:mod:`parity.adapters._scipy`."""
from parity.adapters._scipy import ScipyAdapter

ADAPTER = ScipyAdapter("scipy_fft", method="fft")
