"""The parity regression suite: every case of the tier on every backend, against the exact reference and
against every other backend. Parametrized by the parity pytest plugin (--parity-tier, --parity-backends)."""


def test_backend_matches_reference(parity_case, parity_backend, parity_session, parity_verify):
    parity_verify(parity_session.run(parity_case).against_reference(parity_backend))


def test_backends_agree(parity_case, parity_pairs, parity_session, parity_verify):
    run = parity_session.run(parity_case)
    parity_verify(*(run.between(first, second) for first, second in parity_pairs))
