"""OCSP revocation checks for the TLS syslog listener (``--tls-ocsp``).

Why: many device CAs publish revocations through an OCSP responder named in each
certificate (Authority Information Access) instead of, or beside, a CRL the listener
could load. Python 3.11's ``ssl`` cannot hook the verification, so the check runs
after the handshake, on the connection's own thread (one per connection): a query in
flight delays only that sender, never the accept loop or other senders. Nothing the
sender wrote is read before the answer.

What is checked: the sender's certificate's issuer is the CA of ``--tls-client-ca``
with its name that signed it (a certificate signed by an intermediate the sender sent
itself has no issuer here: "cannot check"). The response must be a successful basic
response signed by that CA, or by a responder certificate the CA signed directly with
the OCSP-signing extended key usage and within its validity; it must answer for this
certificate (serial and the issuer's name and key hashes); its thisUpdate may not be
in the future nor its nextUpdate in the past beyond ``SKEW``; a nonce in it must be
the one sent (a responder that answers without one, as RFC 5019 responders serving
pre-made answers do, is accepted: thisUpdate/nextUpdate bound its age). The signature
is checked with whatever key signed it: RSA (PKCS #1 v1.5 or PSS), ECDSA, Ed25519,
Ed448 or DSA; one made by another algorithm fails that check.

Answers: ``good`` admits, ``revoked`` refuses; ``unknown``, no responder, a responder
down or an answer that fails a check refuse in ``require`` mode and admit with a
(rate-limited) warning in ``prefer`` mode. Good and revoked answers are kept per
(issuer, serial) until their nextUpdate (``DEFAULT_KEEP`` when they have none), at
most ``CACHE_SIZE`` of them, so a device reconnecting every second is asked about once,
and connections of one certificate arriving while it is asked about wait for that one
answer.
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    SignatureAlgorithmOID,
)

from aiops.errors import InputError
from aiops.warn_limit import WarnLimit

log = logging.getLogger("aiops.syslog_listener")

MODES = ("require", "prefer")
TIMEOUT_SECONDS = 5.0  # connect and read, each: within it the sender waits, no one else
MAX_RESPONSE_BYTES = 64 * 1024  # a basic response with a responder certificate: ~2 KB
SKEW = datetime.timedelta(minutes=5)  # clocks of listener and responder may differ
DEFAULT_KEEP = datetime.timedelta(minutes=5)  # an answer without nextUpdate
CACHE_SIZE = 10_000
# RSASSA-PSS answers: the hashes tried (SHA-1 last: RFC 4055's default when a
# signature gives no parameters, and what sha1WithRSAEncryption answers are read with).
PSS_HASHES = (hashes.SHA256(), hashes.SHA384(), hashes.SHA512(), hashes.SHA1())  # noqa: S303


class OcspRefused(Exception):
    """The connection must be closed; the text (the same for each connection of one
    certificate and cause) is logged once an hour through ``OcspChecker.warnings``."""


class _Unchecked(Exception):
    """No trustworthy answer: the text says why (refused or warned by mode)."""


@dataclass(frozen=True, slots=True)
class _Answer:
    revoked_at: datetime.datetime | None  # None: good
    keep_until: datetime.datetime


class OcspChecker:
    """``check`` judges one sender certificate; thread-safe, one per listener."""

    def __init__(self, authorities: Sequence[x509.Certificate], mode: str,
                 url: str | None = None, timeout: float = TIMEOUT_SECONDS,
                 cache_size: int = CACHE_SIZE):
        if mode not in MODES:
            raise InputError(f"--tls-ocsp {mode!r}: give require or prefer")
        self.authorities = list(authorities)
        self.mode = mode
        self.url = url
        self.timeout = timeout
        self.cache_size = cache_size
        self.queries = 0  # asked of a responder (the cache's effect, for tests and logs)
        self.warnings = WarnLimit()  # once an hour per certificate and reason
        self._cache: OrderedDict[tuple[bytes, int], _Answer] = OrderedDict()
        # Queries in flight, per certificate: a device that opens several connections at
        # once (or reconnects them all after a restart) waits for one answer instead of
        # asking the responder once per connection.
        self._asking: dict[tuple[bytes, int], threading.Event] = {}
        self._lock = threading.Lock()

    def check(self, leaf_der: bytes, peer: str) -> None:
        """Return when the certificate may send; ``OcspRefused`` when not."""
        leaf = x509.load_der_x509_certificate(leaf_der)
        who = f"{leaf.subject.rfc4514_string()} serial {leaf.serial_number:X}"
        try:
            issuer = self._issuer(leaf)
            key = (issuer.public_bytes(serialization.Encoding.DER), leaf.serial_number)
            answer = self._answer(key, leaf, issuer)
        except _Unchecked as exc:
            reason = f"OCSP cannot vouch for the certificate {who}: {exc}"
            if self.mode == "require":
                raise OcspRefused(reason + " (--tls-ocsp require)") from None
            said = self.warnings.check(f"{reason}; admitted (--tls-ocsp prefer)")
            if said is not None:
                log.warning("%s; from %s", said, peer)
            return
        if answer.revoked_at is not None:
            raise OcspRefused(f"the certificate {who} is revoked (OCSP), since "
                              f"{answer.revoked_at:%Y-%m-%d %H:%M:%S} UTC")

    def _answer(self, key: tuple[bytes, int], leaf: x509.Certificate,
                issuer: x509.Certificate) -> _Answer:
        """The cached answer, else one asked now; while another connection asks about
        the same certificate, its answer (a query that failed there is asked again here,
        so each connection still gets its own verdict and reason)."""
        answer = self._cached(key)
        if answer is not None:
            return answer
        with self._lock:
            asking = self._asking.get(key)
            if asking is None:
                mine = self._asking[key] = threading.Event()
        if asking is not None:
            asking.wait(2 * self.timeout + 1.0)  # connect and read, each within timeout
            answer = self._cached(key)
            if answer is not None:
                return answer
            answer = self._ask(leaf, issuer)
            self._keep(key, answer)
            return answer
        try:
            answer = self._ask(leaf, issuer)
            self._keep(key, answer)
            return answer
        finally:
            with self._lock:
                del self._asking[key]
            mine.set()

    def _issuer(self, leaf: x509.Certificate) -> x509.Certificate:
        try:
            wanted = leaf.extensions.get_extension_for_class(
                x509.AuthorityKeyIdentifier).value.key_identifier
        except x509.ExtensionNotFound:
            wanted = None
        for ca in self.authorities:
            if ca.subject != leaf.issuer:
                continue
            if wanted is not None and _key_id(ca) not in (None, wanted):
                continue
            try:
                leaf.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return ca
        raise _Unchecked(f"its issuer {leaf.issuer.rfc4514_string()} is not a CA of "
                         "--tls-client-ca (an intermediate only the sender sent?)")

    def _cached(self, key: tuple[bytes, int]) -> _Answer | None:
        now = datetime.datetime.now(datetime.UTC)
        with self._lock:
            answer = self._cache.get(key)
            if answer is None:
                return None
            if answer.keep_until <= now:
                del self._cache[key]
                return None
            self._cache.move_to_end(key)
            return answer

    def _keep(self, key: tuple[bytes, int], answer: _Answer) -> None:
        with self._lock:
            self._cache[key] = answer
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def _ask(self, leaf: x509.Certificate, issuer: x509.Certificate) -> _Answer:
        url = self.url or _responder(leaf)
        if url is None:
            raise _Unchecked("it names no OCSP responder and --tls-ocsp-url is not given")
        nonce = os.urandom(16)
        request = (ocsp.OCSPRequestBuilder()
                   .add_certificate(leaf, issuer, hashes.SHA1())  # noqa: S303 - RFC 5019 CertID
                   .add_extension(x509.OCSPNonce(nonce), critical=False).build())
        with self._lock:
            self.queries += 1
        body = _post(url, request.public_bytes(serialization.Encoding.DER), self.timeout)
        try:
            response = ocsp.load_der_ocsp_response(body)
        except ValueError as exc:
            raise _Unchecked(f"{url} answered with no OCSP response ({exc})") from None
        try:
            return _verified(response, request, issuer, nonce, url)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # a field not read
            raise _Unchecked(f"{url}'s answer cannot be read ({exc})") from None


def _post(url: str, der: bytes, timeout: float) -> bytes:
    try:
        with requests.post(url, data=der, timeout=timeout, stream=True,
                           headers={"Content-Type": "application/ocsp-request",
                                    "Accept": "application/ocsp-response"}) as reply:
            if reply.status_code != 200:
                raise _Unchecked(f"{url} answered HTTP {reply.status_code}")
            body = reply.raw.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise _Unchecked(f"the responder {url} did not answer ({type(exc).__name__})") \
            from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise _Unchecked(f"{url} answered more than {MAX_RESPONSE_BYTES} bytes")
    return body


def _verified(response: ocsp.OCSPResponse, request: ocsp.OCSPRequest,
              issuer: x509.Certificate, nonce: bytes, url: str) -> _Answer:
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise _Unchecked(f"{url} answered {response.response_status.name}")
    signer = _signer(response, issuer, url)
    try:
        _verify_answer(signer.public_key(), response)
    except UnsupportedAlgorithm:
        raise _Unchecked(f"{url}'s answer is signed with an algorithm that cannot be "
                         f"checked ({response.signature_algorithm_oid.dotted_string})") \
            from None
    except (InvalidSignature, TypeError, ValueError):
        raise _Unchecked(f"{url}'s answer's signature does not verify") from None
    try:
        echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        echoed = None
    if echoed is not None and echoed != nonce:
        raise _Unchecked(f"{url}'s answer carries another request's nonce (a replay?)")
    single = next((s for s in response.responses if _about(s, request)), None)
    if single is None:
        raise _Unchecked(f"{url}'s answer is not about this certificate")
    now = datetime.datetime.now(datetime.UTC)
    if single.this_update_utc > now + SKEW:
        raise _Unchecked(f"{url}'s answer is dated {single.this_update_utc:%Y-%m-%d %H:%M} "
                         "UTC, in the future")
    if single.next_update_utc is not None and single.next_update_utc < now - SKEW:
        raise _Unchecked(f"{url}'s answer expired at {single.next_update_utc:%Y-%m-%d %H:%M} "
                         "UTC")
    if single.certificate_status == ocsp.OCSPCertStatus.UNKNOWN:
        raise _Unchecked(f"{url} does not know the certificate (status unknown)")
    keep = max(single.next_update_utc or now + DEFAULT_KEEP, now)
    if single.certificate_status == ocsp.OCSPCertStatus.REVOKED:
        return _Answer(single.revocation_time_utc, keep)
    return _Answer(None, keep)


def _signer(response: ocsp.OCSPResponse, issuer: x509.Certificate,
            url: str) -> x509.Certificate:
    """The certificate whose key signed the answer: the issuer, or a delegated
    responder the issuer signed for OCSP signing (RFC 6960 §4.2.2.2)."""
    if _is_responder(response, issuer):
        return issuer
    for candidate in response.certificates:
        if not _is_responder(response, candidate):
            continue
        if candidate.issuer != issuer.subject:
            break
        try:
            candidate.verify_directly_issued_by(issuer)
            usages = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
            break
        if ExtendedKeyUsageOID.OCSP_SIGNING not in usages:
            raise _Unchecked(f"{url}'s responder certificate lacks the OCSP-signing usage")
        now = datetime.datetime.now(datetime.UTC)
        if not candidate.not_valid_before_utc - SKEW <= now <= candidate.not_valid_after_utc + SKEW:
            raise _Unchecked(f"{url}'s responder certificate is outside its validity")
        return candidate
    raise _Unchecked(f"{url}'s answer is signed neither by the issuer nor by a responder "
                     "it authorised")


def _is_responder(response: ocsp.OCSPResponse, certificate: x509.Certificate) -> bool:
    if response.responder_name is not None:
        return response.responder_name == certificate.subject
    return response.responder_key_hash == _key_hash(certificate)


def _key_hash(certificate: x509.Certificate) -> bytes:
    """SHA-1 of the subjectPublicKey bits (RFC 6960 §4.1.1 ResponderID byKey), which
    is also how RFC 5280 §4.2.1.2 method 1 makes a key identifier."""
    return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


def _about(single: ocsp.OCSPSingleResponse, request: ocsp.OCSPRequest) -> bool:
    """The answer is for the CertID asked (SHA-1 hashes of the issuer's name and key)."""
    return (single.serial_number == request.serial_number
            and isinstance(single.hash_algorithm, hashes.SHA1)
            and single.issuer_name_hash == request.issuer_name_hash
            and single.issuer_key_hash == request.issuer_key_hash)


def _verify_answer(key: object, response: ocsp.OCSPResponse) -> None:
    """The answer's signature by ``key`` (InvalidSignature, TypeError or
    UnsupportedAlgorithm when not). RSASSA-PSS apart: cryptography reads no hash from
    its parameters (``signature_hash_algorithm`` raises) and exposes none of them for
    an OCSP response, so the hashes a responder signs with are tried, each with MGF1 of
    the same hash (what ``openssl ocsp -rsigopt rsa_padding_mode:pss`` and other
    signers write) and any salt length; a forged answer verifies under none."""
    if response.signature_algorithm_oid != SignatureAlgorithmOID.RSASSA_PSS:
        _verify_signature(key, response.signature, response.tbs_response_bytes,
                          response.signature_hash_algorithm)
        return
    if not isinstance(key, rsa.RSAPublicKey):
        raise TypeError("an RSASSA-PSS signature from a key that is not RSA")
    for algorithm in PSS_HASHES:
        pss = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.AUTO)
        try:
            key.verify(response.signature, response.tbs_response_bytes, pss, algorithm)
        except InvalidSignature:
            continue
        return
    raise InvalidSignature


def _verify_signature(key: object, signature: bytes, data: bytes,
                      algorithm: hashes.HashAlgorithm | None) -> None:
    if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
        key.verify(signature, data, ec.ECDSA(algorithm))
    elif isinstance(key, dsa.DSAPublicKey) and algorithm is not None:
        key.verify(signature, data, algorithm)
    elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        key.verify(signature, data)
    else:
        raise TypeError("a key type OCSP answers are not signed with")


def _key_id(certificate: x509.Certificate) -> bytes | None:
    try:
        return certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def _responder(leaf: x509.Certificate) -> str | None:
    try:
        access = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return None
    for description in access:
        if description.access_method == AuthorityInformationAccessOID.OCSP \
                and isinstance(description.access_location, x509.UniformResourceIdentifier):
            return description.access_location.value
    return None


def checked_url(url: str) -> str:
    """``--tls-ocsp-url`` as given, or ``InputError``: an http(s) URL with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"--tls-ocsp-url {url!r}: not an http:// URL of an OCSP responder")
    return url


def ocsp_checker(client_ca: Path, mode: str, url: str | None) -> OcspChecker:
    """The checker from the options; ``InputError`` names the option at fault."""
    try:
        authorities = x509.load_pem_x509_certificates(client_ca.read_bytes())
    except (OSError, ValueError) as exc:
        raise InputError(f"--tls-client-ca {client_ca}: cannot be read to find the issuers "
                         f"OCSP needs ({exc})") from None
    return OcspChecker(authorities, mode, checked_url(url) if url is not None else None)
