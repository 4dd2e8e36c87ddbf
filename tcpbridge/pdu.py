"""
Decoding the SMS-SUBMIT PDU a host sends in PDU mode (3GPP TS 23.040):
the destination address and the message, in the GSM 7-bit default
alphabet (TS 23.038, with its extension table), as 8-bit data or in
UCS-2.  Pure functions, no I/O.
"""

from dataclasses import dataclass
from typing import List, Tuple

#: The GSM 7-bit default alphabet, by code (0x1B is the escape to the
#: extension table).
GSM7 = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)

#: The extension table: the character after an escape.
GSM7_EXTENSION = {
    0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\",
    0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€",
}

#: The semi-octets of an address beyond the digits.
_SEMI_OCTETS = "0123456789*#abc"

#: Octets of the validity period, by its format (TP-VPF).
_VALIDITY = {0: 0, 1: 7, 2: 1, 3: 7}


class PDUError(ValueError):
    """
    The PDU is not a well-formed SMS-SUBMIT; the message says where.
    """


@dataclass(frozen=True)
class Submit:
    """
    A decoded SMS-SUBMIT: the destination (C{+} first when international),
    the message text (8-bit data as Latin-1 characters, one a byte), and
    its alphabet: C{gsm7}, C{8bit} or C{ucs2}.
    """

    to: str
    text: str
    encoding: str


def unpackSeptets(octets: bytes, count: int) -> List[int]:
    """
    The first C{count} 7-bit codes packed into C{octets}.
    """
    if len(octets) * 8 < count * 7:
        raise PDUError("user data shorter than its length says")
    value = int.from_bytes(octets, "little")
    return [(value >> (7 * i)) & 0x7F for i in range(count)]


def gsm7(codes: List[int]) -> str:
    """
    Text from GSM 7-bit codes, escapes to the extension table included (an
    unknown extension reads as a space, as the standard says).
    """
    chars = []
    escaped = False
    for code in codes:
        if escaped:
            chars.append(GSM7_EXTENSION.get(code, " "))
            escaped = False
        elif code == 0x1B:
            escaped = True
        else:
            chars.append(GSM7[code])
    return "".join(chars)


def alphabet(dcs: int) -> str:
    """
    The alphabet a data coding scheme gives the user data.
    """
    group = dcs >> 4
    if group < 0x8:
        if dcs & 0x20:
            raise PDUError("compressed user data is not supported")
        return ("gsm7", "8bit", "ucs2", "gsm7")[(dcs >> 2) & 3]
    if group == 0xE:
        return "ucs2"
    if group == 0xF:
        return "8bit" if dcs & 0x04 else "gsm7"
    return "gsm7"


class _Reader:
    """
    Reads a PDU octet by octet, failing clearly at its end.
    """

    def __init__(self, octets: bytes) -> None:
        self.octets = octets
        self.at = 0

    def take(self, n: int, what: str) -> bytes:
        if self.at + n > len(self.octets):
            raise PDUError("PDU ends in its %s" % (what,))
        self.at += n
        return self.octets[self.at - n : self.at]

    def octet(self, what: str) -> int:
        return self.take(1, what)[0]


def _address(reader: _Reader) -> str:
    """
    The destination address: its digits, C{+} first if international, or
    its text if alphanumeric.
    """
    digits = reader.octet("address length")
    kind = reader.octet("address type")
    body = reader.take((digits + 1) // 2, "address")
    if (kind >> 4) & 7 == 5:
        return gsm7(unpackSeptets(body, digits * 4 // 7))
    semi: List[int] = []
    for b in body:
        semi += [b & 0x0F, b >> 4]
    if any(s > 0x0E for s in semi[:digits]):
        raise PDUError("address holds a filler among its digits")
    number = "".join(_SEMI_OCTETS[s] for s in semi[:digits])
    return "+" + number if (kind >> 4) & 7 == 1 else number


def decodeSubmit(octets: bytes) -> Submit:
    """
    Decode an SMS-SUBMIT PDU, the service centre part first (as C{AT+CMGS}
    takes it).

    @raise PDUError: if it is not a well-formed SMS-SUBMIT.
    """
    reader = _Reader(octets)
    reader.take(reader.octet("service centre length"), "service centre address")
    first = reader.octet("first octet")
    if first & 0x03 != 0x01:
        raise PDUError("not an SMS-SUBMIT (message type %d)" % (first & 0x03,))
    reader.octet("message reference")
    to = _address(reader)
    reader.octet("protocol identifier")
    encoding = alphabet(reader.octet("data coding scheme"))
    reader.take(_VALIDITY[(first >> 3) & 3], "validity period")
    length = reader.octet("user data length")
    data = reader.octets[reader.at :]
    header = 0
    if first & 0x40:
        if not data:
            raise PDUError("PDU ends in its user data header")
        header = data[0] + 1
    if encoding == "gsm7":
        septets = unpackSeptets(data, length)
        used = (length * 7 + 7) // 8
        text = gsm7(septets[(header * 8 + 6) // 7 :])
    else:
        used = length
        if len(data) < length or header > length:
            raise PDUError("user data shorter than its length says")
        body = data[header:length]
        text = body.decode("utf-16-be", "replace") if encoding == "ucs2" else body.decode("latin-1")
    if len(data) != used:
        raise PDUError("%d octets after the user data" % (len(data) - used,))
    return Submit(to, text, encoding)


def decodeHex(text: str) -> Tuple[bytes, int]:
    """
    The octets of a PDU typed in hex, and the length of its TPDU (what
    follows the service centre part), as C{AT+CMGS=<length>} gives it.

    @raise PDUError: if it is not hex.
    """
    try:
        octets = bytes.fromhex(text)
    except ValueError:
        raise PDUError("not hexadecimal")
    if not octets:
        raise PDUError("empty")
    return octets, len(octets) - 1 - octets[0]
