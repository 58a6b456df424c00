"""The parity regression suite: every case of the tier on every backend, against the exact reference and
against every backend before it in --parity-backends, one item per case and backend (it carries that
backend's pairs). Parametrized by the parity pytest plugin (--parity-tier, --parity-backends)."""


def test_backend_agrees(parity_case, parity_backend, parity_pairs, parity_session, parity_verify):
    run = parity_session.run(parity_case)
    parity_verify(run.against_reference(parity_backend), *(run.between(a, b) for a, b in parity_pairs))
