"""The exact reference: the convolution in float64 (and its error-free path for float64 cases), its error-bound
scale and the gathering it is built on."""
