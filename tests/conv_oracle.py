"""Independent convolution loops for the check/translate tests: Y built "the other way".

Nothing here uses parity: direct sums over kernel taps of shifted slices (forward) and scatter-adds
(transposed), written from the definitions, on channels-first float64 arrays.
"""
from __future__ import annotations

import numpy as np


def forward(x, w, strides, pads, dilations=None, groups=1, reverse=()):
    """y[n, o, p] = sum_{c, j} xpad[n, c, p*s + j*d] * w[o, c, j'] with j' = k-1-j on the ``reverse`` axes."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    rank = x.ndim - 2
    dilations = dilations or (1,) * rank
    xp = np.pad(x, [(0, 0), (0, 0), *pads])
    kernel = w.shape[2:]
    out = [(xp.shape[2 + a] - dilations[a] * (kernel[a] - 1) - 1) // strides[a] + 1 for a in range(rank)]
    y = np.zeros((x.shape[0], w.shape[0], *out))
    per_in, per_out = x.shape[1] // groups, w.shape[0] // groups
    for o in range(w.shape[0]):
        for c in range(per_in):
            channel = o // per_out * per_in + c
            for tap in np.ndindex(*kernel):
                source = tuple(kernel[a] - 1 - t if a in reverse else t for a, t in enumerate(tap))
                window = tuple(slice(t * dilations[a], t * dilations[a] + (out[a] - 1) * strides[a] + 1, strides[a])
                               for a, t in enumerate(tap))
                y[:, o] += xp[(slice(None), channel, *window)] * w[(o, c, *source)]
    return y


def transposed(x, w, strides, crops, output_padding, dilations=None, groups=1):
    """PyTorch conv_transpose: scatter x[n, c, i] * w[c, o, j] to position i*s + j*d of the full output,
    drop crops (lo, hi), then append output_padding zeros-or-values at the end."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    rank = x.ndim - 2
    dilations = dilations or (1,) * rank
    spatial, kernel = x.shape[2:], w.shape[2:]
    full = [(n - 1) * s + d * (k - 1) + 1 for n, s, d, k in zip(spatial, strides, dilations, kernel)]
    extra = [max(0, op - hi) for (_, hi), op in zip(crops, output_padding)]
    y = np.zeros((x.shape[0], w.shape[1] * groups, *(f + e for f, e in zip(full, extra))))
    per_in, per_out = x.shape[1] // groups, w.shape[1]
    for c in range(x.shape[1]):
        for o in range(per_out):
            target = c // per_in * per_out + o
            for tap in np.ndindex(*kernel):
                window = tuple(slice(t * d, t * d + (n - 1) * s + 1, s)
                               for t, d, n, s in zip(tap, dilations, spatial, strides))
                y[(slice(None), target, *window)] += x[:, c] * w[(c, o, *tap)]
    keep = tuple(slice(lo, f - hi + op) for (lo, hi), op, f in zip(crops, output_padding, full))
    return y[(slice(None), slice(None), *keep)]


def channels_last(a):
    return np.moveaxis(a, 1, -1)


def same_pads(n, k, s, d=1):
    """TF SAME from its documented formula: total = max((ceil(n/s) - 1)*s + (k-1)*d + 1 - n, 0), extra at the end."""
    total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2
