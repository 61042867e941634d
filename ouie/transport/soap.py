"""SOAP 1.2 for ONVIF devices that ouie serves (the virtual camera, the central's ONVIF Event
service): namespaces, envelopes, faults and WS-Security.

Only what a device needs to answer an ONVIF client: parse a SOAP 1.2 request, check its
WS-Security UsernameToken (OASIS UsernameToken Profile 1.0: PasswordDigest =
Base64(SHA-1(nonce ‖ created ‖ password)), or PasswordText), and build responses and faults.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree
from lxml.builder import ElementMaker

SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"
TT = "http://www.onvif.org/ver10/schema"
TER = "http://www.onvif.org/ver10/error"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
NSMAP = {"env": SOAP_ENV, "tds": TDS, "trt": TRT, "tptz": TPTZ, "tt": TT, "ter": TER}

E_ENV = ElementMaker(namespace=SOAP_ENV, nsmap=NSMAP)
E_TDS = ElementMaker(namespace=TDS, nsmap=NSMAP)
E_TRT = ElementMaker(namespace=TRT, nsmap=NSMAP)
E_TPTZ = ElementMaker(namespace=TPTZ, nsmap=NSMAP)
E_TT = ElementMaker(namespace=TT, nsmap=NSMAP)

MAX_CLOCK_SKEW_S = 300.0
"""How far a token's Created time may be from the device clock, s (replay window)."""


class SoapFault(Exception):
    """A SOAP fault to send back: code (Sender/Receiver), ONVIF subcode, reason, HTTP status."""

    def __init__(self, code: str, subcode: str, reason: str, http_status: int = 400) -> None:
        super().__init__(reason)
        self.code, self.subcode, self.reason, self.http_status = code, subcode, reason, http_status


def not_authorized() -> SoapFault:
    """The ONVIF fault for a missing or wrong UsernameToken (env:Sender / ter:NotAuthorized)."""
    return SoapFault("Sender", "NotAuthorized", "Sender not authorized", http_status=400)


def envelope(body_child: etree._Element) -> bytes:
    """A SOAP 1.2 envelope around one body element, serialized as UTF-8 XML."""
    document = E_ENV.Envelope(E_ENV.Body(body_child))
    return etree.tostring(document, xml_declaration=True, encoding="utf-8")


def fault_envelope(fault: SoapFault) -> bytes:
    """A SOAP 1.2 fault envelope with the ONVIF subcode (ter:NotAuthorized, ...)."""
    subcode = E_ENV.Subcode(E_ENV.Value(f"ter:{fault.subcode}"))
    body = E_ENV.Fault(
        E_ENV.Code(E_ENV.Value(f"env:{fault.code}"), subcode),
        E_ENV.Reason(
            E_ENV.Text(fault.reason, {"{http://www.w3.org/XML/1998/namespace}lang": "en"})
        ),
    )
    return envelope(body)


def parse_request(payload: bytes) -> tuple[etree._Element, etree._Element | None]:
    """The first element of the SOAP Body (the operation) and the Header (or None).

    Raises SoapFault (env:Sender / ter:WellFormed) when the payload is not a SOAP envelope."""
    try:
        root = etree.fromstring(payload, parser=etree.XMLParser(resolve_entities=False))
    except etree.XMLSyntaxError as error:
        raise SoapFault("Sender", "WellFormed", f"not well-formed XML: {error}") from None
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None or len(body) == 0:
        raise SoapFault("Sender", "WellFormed", "no SOAP 1.2 Body with an operation")
    return body[0], root.find(f"{{{SOAP_ENV}}}Header")


def local_name(element: etree._Element) -> str:
    """An element's name without its namespace."""
    return etree.QName(element).localname


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """WS-Security PasswordDigest = Base64(SHA-1(nonce ‖ created ‖ password))."""
    digest = hashlib.sha1(nonce + created.encode("utf-8") + password.encode("utf-8")).digest()
    return base64.b64encode(digest).decode("ascii")


def _parse_created(created: str) -> float:
    """A wsu:Created timestamp ('2026-11-25T12:00:00.123Z', zone optional → UTC) as epoch s."""
    moment = datetime.fromisoformat(created.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass
class UsernameTokenChecker:
    """Checks UsernameTokens against one user, refusing stale or replayed digests."""

    username: str
    password: str
    clock_offset_s: float = 0.0
    """The device clock minus true UTC, s (tokens are checked against the device clock)."""
    _seen_nonces: dict[bytes, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, header: etree._Element | None) -> None:
        """Raise `not_authorized()` unless the header carries a valid token for our user."""
        token = None if header is None else header.find(f".//{{{WSSE}}}UsernameToken")
        if token is None:
            raise not_authorized()
        username = token.findtext(f"{{{WSSE}}}Username") or ""
        password_element = token.find(f"{{{WSSE}}}Password")
        if password_element is None or not hmac.compare_digest(username, self.username):
            raise not_authorized()
        given = password_element.text or ""
        if password_element.get("Type", "").endswith("#PasswordText"):
            if not hmac.compare_digest(given, self.password):
                raise not_authorized()
            return
        nonce_text = token.findtext(f"{{{WSSE}}}Nonce")
        created = token.findtext(f"{{{WSU}}}Created")
        if nonce_text is None or created is None:
            raise not_authorized()
        try:
            nonce, created_s = base64.b64decode(nonce_text), _parse_created(created)
        except ValueError:
            raise not_authorized() from None
        if abs(time.time() + self.clock_offset_s - created_s) > MAX_CLOCK_SKEW_S:
            raise not_authorized()
        if not hmac.compare_digest(given, password_digest(nonce, created, self.password)):
            raise not_authorized()
        self._remember(nonce)

    def _remember(self, nonce: bytes) -> None:
        """Refuse a nonce seen within the replay window; forget older ones."""
        now = time.monotonic()
        with self._lock:
            for old in [n for n, t in self._seen_nonces.items() if now - t > 2 * MAX_CLOCK_SKEW_S]:
                del self._seen_nonces[old]
            if nonce in self._seen_nonces:
                raise not_authorized()
            self._seen_nonces[nonce] = now
