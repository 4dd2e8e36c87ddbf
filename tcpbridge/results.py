"""
What the modem answers: its result codes and its CME error codes, shared by
the line discipline and every service.
"""

#: Result codes and their numeric (C{ATV0}) form.
RESULT_CODES = {
    "OK": 0,
    "ERROR": 4,
    "Ok_Info_DataBegin": 1025,
    "Ok_Info_WaitingForData": 1028,
    "Ok_Info_NoMail": 3072,
    "Ok_Info_Mail": 3073,
    "Ok_Info_SocketClosed": 3074,
    "Ok_Info_GprsActivation": 3086,
}

# CME error codes.
NOT_ALLOWED = 3  # 3GPP 27.007 "operation not allowed": a profile that cannot be saved
UNKNOWN_COMMAND = 34817
SYNTAX_ERROR = 34819
LINE_TOO_LONG = 34881
BAD_VALUE = 34882
LINK_DOWN = 35867
BUSY = 37123
TCP_OPEN_FAILED = 38016
DNS_FAILED = 38027

#: A command handler's return value meaning it wrote the line's final
#: result itself (in place of C{OK}).
FINAL = "final"


class ATError(Exception):
    """
    A command failed with this CME error code.
    """

    def __init__(self, code: int) -> None:
        Exception.__init__(self, code)
        self.code = code
