"""
Tests for L{tcpbridge.pdu}: SMS-SUBMIT PDUs as host firmware builds them,
in every alphabet, with and without a user data header, and malformed
ones.
"""

from typing import List, Optional

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from tcpbridge.pdu import GSM7, GSM7_EXTENSION, PDUError, Submit, decodeHex, decodeSubmit

#: A concatenated-SMS user data header (reference 0x42, part 1 of 2).
CONCATENATED = bytes([0x05, 0x00, 0x03, 0x42, 0x02, 0x01])


def septets(text: str) -> List[int]:
    """
    GSM 7-bit codes for C{text}, escapes included.
    """
    extension = {c: code for code, c in GSM7_EXTENSION.items()}
    codes: List[int] = []
    for c in text:
        codes += [0x1B, extension[c]] if c in extension else [GSM7.index(c)]
    return codes


def pack(codes: List[int], header: bytes = b"") -> bytes:
    """
    The user data length and user data for GSM 7-bit C{codes} after
    C{header}, padded to a septet boundary with fill bits.
    """
    value = int.from_bytes(header, "little")
    bits = len(header) * 8
    bits += -bits % 7
    for code in codes:
        value |= code << bits
        bits += 7
    return bytes([bits // 7]) + value.to_bytes((bits + 7) // 8, "little")


def submit(
    userData: bytes, dcs: int = 0, header: bool = False, address: str = "0B916407281553F8",
    validity: Optional[str] = "AA", smsc: str = "00",
) -> bytes:
    """
    An SMS-SUBMIT PDU (service centre part first) around C{userData} (its
    length octet first).
    """
    first = 0x01 | (0x10 if validity is not None and len(validity) == 2 else 0)
    if validity is not None and len(validity) == 14:
        first |= 0x18
    if header:
        first |= 0x40
    return bytes.fromhex(
        smsc + "%02X00" % (first,) + address + "00%02X" % (dcs,) + (validity or "")
    ) + userData


class DecodeTests(SynchronousTestCase):
    """
    Well-formed SMS-SUBMIT PDUs decode to their destination and text.
    """

    def test_known(self) -> None:
        """
        The textbook PDU decodes to +46708251358 and "hellohello".
        """
        octets, length = decodeHex("0011000B916407281553F80000AA0AE8329BFD4697D9EC37")
        self.assertEqual(length, 23)
        self.assertEqual(decodeSubmit(octets), Submit("+46708251358", "hellohello", "gsm7"))

    def test_gsm7Extension(self) -> None:
        """
        Characters of the extension table (€, brackets) decode through their escape.
        """
        text = "Alarm [zone 3] {armed} 20€ ~ok|^\\"
        pdu = submit(pack(septets(text)))
        self.assertEqual(decodeSubmit(pdu).text, text)

    def test_gsm7Header(self) -> None:
        """
        A user data header is skipped, fill bits included.
        """
        pdu = submit(pack(septets("part one"), CONCATENATED), header=True)
        self.assertEqual(decodeSubmit(pdu).text, "part one")

    def test_ucs2(self) -> None:
        """
        UCS-2 user data decodes, with and without a header.
        """
        text = "Alarme: zone 3 € é中"
        body = text.encode("utf-16-be")
        self.assertEqual(
            decodeSubmit(submit(bytes([len(body)]) + body, dcs=0x08)),
            Submit("+46708251358", text, "ucs2"),
        )
        withHeader = CONCATENATED + body
        pdu = submit(bytes([len(withHeader)]) + withHeader, dcs=0x08, header=True)
        self.assertEqual(decodeSubmit(pdu).text, text)

    def test_eightBit(self) -> None:
        """
        8-bit data decodes one character a byte, from DCS 0x04 and 0xF4.
        """
        body = b"\x00\x01ab\xff"
        for dcs in (0x04, 0xF4):
            submitted = decodeSubmit(submit(bytes([len(body)]) + body, dcs=dcs))
            self.assertEqual((submitted.text, submitted.encoding), ("\x00\x01ab\xff", "8bit"))

    def test_addresses(self) -> None:
        """
        National numbers have no +, an odd number of digits ends in a filler, and an alphanumeric
        address decodes as text.
        """
        body = pack(septets("x"))
        self.assertEqual(decodeSubmit(submit(body, address="0A817012345678")).to, "0721436587")
        self.assertEqual(decodeSubmit(submit(body, address="05912143F5")).to, "+12345")
        name = pack(septets("Alarm"))[1:]
        address = "%02XD0" % (len(name) * 2,) + name.hex()
        self.assertEqual(decodeSubmit(submit(body, address=address)).to, "Alarm")

    def test_validityFormats(self) -> None:
        """
        Without a validity period, and with an absolute one of 7 octets, the text is found.
        """
        body = pack(septets("ok"))
        self.assertEqual(decodeSubmit(submit(body, validity=None)).text, "ok")
        self.assertEqual(decodeSubmit(submit(body, validity="62107001000000")).text, "ok")

    def test_serviceCentre(self) -> None:
        """
        A service centre address before the TPDU is skipped, and not counted in its length.
        """
        pdu = submit(pack(septets("sc")), smsc="07914477850160F5")
        octets, length = decodeHex(pdu.hex())
        self.assertEqual(length, len(pdu) - 8)
        self.assertEqual(decodeSubmit(octets).text, "sc")

    @given(st.text(alphabet=GSM7.replace("\x1b", "") + "".join(GSM7_EXTENSION.values())))
    def test_gsm7RoundTrip(self, text: str) -> None:
        """
        Any text of the GSM 7-bit alphabet comes back as packed.
        """
        self.assertEqual(decodeSubmit(submit(pack(septets(text)))).text, text)


class MalformedTests(SynchronousTestCase):
    """
    A malformed PDU is refused with a reason, never decoded to garbage.
    """

    def test_refused(self) -> None:
        """
        Truncated, overlong, non-SUBMIT and compressed PDUs raise PDUError.
        """
        good = submit(pack(septets("hello")))
        for pdu, why in [
            (good[:-1], "short"),
            (good + b"\x00", "trailing"),
            (good[:5], "cut in the address"),
            (b"\x00", "no TPDU"),
            (b"\x00\x00" + good[2:], "SMS-DELIVER"),
            (submit(pack(septets("x")), dcs=0x20), "compressed"),
            (submit(b"\x05ab", dcs=0x08), "UCS-2 short"),
            (submit(pack(septets("x")), header=True)[:-2] + b"\x00", "header missing"),
        ]:
            self.assertRaises(PDUError, decodeSubmit, pdu)

    def test_notHex(self) -> None:
        """
        Text that is not hexadecimal, or empty, is refused.
        """
        self.assertRaises(PDUError, decodeHex, "00GG")
        self.assertRaises(PDUError, decodeHex, "")
