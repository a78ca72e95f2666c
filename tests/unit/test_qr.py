"""What the QR codes point at (`sanitiser.certificate.qr`)."""

from __future__ import annotations

from sanitiser.certificate.qr import DEFAULT_BASE_URL, placeholder_url_warning


def test_a_placeholder_verify_url_is_warned_of_and_a_real_one_is_not() -> None:
    """QR codes on the built-in placeholder reach nothing: the warning says so and how to fix
    it; a configured base gives no warning."""
    for unset in ("", DEFAULT_BASE_URL):
        warning = placeholder_url_warning(unset)
        assert "reaches nothing" in warning
        assert "verify_base_url" in warning
    assert placeholder_url_warning("https://verify.council.example.gov.uk/v") == ""
