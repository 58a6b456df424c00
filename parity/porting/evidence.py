"""Whether a match of `parity check` is evidence: the bound of a short type over long sums can be wide enough
to admit a mistaken convention (the kernel flipped, the padding shifted: :mod:`parity.verdict.sensitivity`)
or an all-zero output; a match then counts only if Y is MARGIN times closer to the stated result than to each
of them."""
from __future__ import annotations

from typing import Final

import numpy as np

from parity.core.reading import Frame
from parity.reference.conv import Reference
from parity.verdict import sensitivity

MARGIN: Final = sensitivity.MARGIN  # how much closer Y must be to the stated result than to what the bound fails to reject
_ZEROS: Final = "all-zero output"


def doubt(fr: Frame, ref: Reference, bound: np.ndarray, distance: float) -> tuple[bool, str]:
    """Whether a Y within the bound is evidence for the stated conventions, and what the bound also admits.

    The bound of a short type over long sums can admit a mistaken convention (the kernel flipped, the padding
    shifted: :mod:`parity.verdict.sensitivity`) or an all-zero output, or reject one by less than sensitivity.NEAR (on a
    few elements: a Y wrong on a part of its output fits too); a match is then evidence only if Y is MARGIN
    times closer (largest absolute difference) to the stated result than to each of those.
    """
    found = sensitivity.mutants(fr.spec, ref, fr.x, fr.w)
    found.append(sensitivity.Mutant(_ZEROS, lambda _: np.zeros_like(ref.value)))
    admits = sensitivity.near(found, ref, fr.spec.dtype, bound)
    if not admits:
        return True, ""
    # Only rejected mutants (the NEAR band): distances net of Y's own final rounding, unless Y was printed
    net = fr.rounding is None and all(ratio > 1 for _, ratio in admits)
    if net:
        distance = sensitivity.farthest(fr.y, ref.value, bound, fr.spec.dtype, net=True)
    away = {mutant.name: sensitivity.farthest(fr.y, mutant.value, bound, fr.spec.dtype, net) for mutant, _ in admits}
    nearest = min(away, key=away.get)
    listed = ", ".join(f"{mutant.name} ({ratio:.3g}x the bound)" for mutant, ratio in admits)
    verb = f"admits or rejects by less than {sensitivity.NEAR:g}x" if any(r > 1 for _, r in admits) else "also admits"
    said = f"the {fr.spec.dtype} bound over sums of {fr.spec.accumulation_length} terms {verb}: {listed}; "
    near = away[nearest]
    if sensitivity.closer(distance, near):
        if distance == 0:
            exact = "the stated result correctly rounded" if net else "exactly the stated result"
            return True, said + f"Y is {exact}, {near:.3g} from the nearest of them ({nearest})"
        return True, said + (f"Y is {near / distance:.3g} times closer{', beyond half an ULP,' if net else ''} to "
                             f"the stated conventions than to any of them ({nearest}: {near:.3g})")
    remedy = "print more digits" if fr.rounding is not None else \
        f"compare a {'float64' if fr.spec.dtype == 'float32' else 'float32'} run of the same call"
    untested = f"{'distances beyond half an ULP; ' if net else ''}this bound cannot test the stated conventions: {remedy}"
    what = "an all-zero output" if nearest == _ZEROS else f"the result with the {nearest}"
    if near * MARGIN <= distance:
        times = f"exactly {what}, {distance:.3g} from the stated result" if near == 0 else \
            f"{distance / near:.3g} times closer to {what} ({near:.3g}) than to the stated result ({distance:.3g})"
        return False, said + f"Y is {times}; {untested}"
    return False, said + (f"Y is not {MARGIN:g} times closer to the stated result ({distance:.3g}) or to "
                          f"{what} ({near:.3g}); {untested}")
