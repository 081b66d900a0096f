"""Warning headers as kube-apiserver writes them (k8s.io/apiserver filters/warning.go, apimachinery
net.NewWarningHeader): RFC 7234 quoted strings, duplicates dropped, 4096 characters in all, then 256 each."""

from __future__ import annotations

from mpi_operator.sandbox.apiserver.server import warning_headers


def test_warning_headers_are_rfc_7234_quoted_strings_deduplicated_and_bounded() -> None:
    assert warning_headers(['unknown field "spec.fooBar"', 'unknown field "spec.fooBar"', 'a\\b', "two\nlines"]) == [
        r'299 - "unknown field \"spec.fooBar\""', r'299 - "a\\b"', '299 - "two lines"']
    many = [f"{i:04d}" + "w" * 996 for i in range(20)]  # 20,000 characters: over kube-apiserver's 4096
    headers = warning_headers(many)
    # Each is cut to 256 characters, and they stop once 4096 characters are written: 16 of them.
    assert [h[7:11] for h in headers] == [f"{i:04d}" for i in range(16)]
    assert all(len(h) == len('299 - ""') + 256 for h in headers)
