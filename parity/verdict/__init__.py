"""Judging a result against the reference: the comparison and its error bound, the mutated references that say
whether a comparison could have failed, and the arithmetic fingerprint."""
