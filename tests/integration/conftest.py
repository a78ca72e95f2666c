"""Fixtures shared by the certificate integration tests: a sample organisation and its trust."""

from __future__ import annotations

import pytest

from sanitiser.certificate.samples import SamplePki, make_pki
from sanitiser.certificate.verify import Trust, load_trust


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SamplePki:
    """An organisation with one station."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def trust(pki: SamplePki) -> Trust:
    """Trust in that organisation."""
    return load_trust(pki.certs)
