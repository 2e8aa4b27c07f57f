"""The event examples of the 2010 QMP documentation, as data.

``tests/data/qmp-events-2010.txt`` holds the seven examples of QEMU commit
d74c7dfd1b63 ("QMP: Revamp the qmp-events.txt file") as printed; ``DOC_2010``
is what each of them says: name, seconds, microseconds, data.
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
DOC_EXAMPLES = os.path.join(HERE, "data", "qmp-events-2010.txt")


def doc_examples():
    with open(DOC_EXAMPLES, "rb") as f:
        return f.read()


# The seven examples of the 2010 documentation, in its order.  The fourth is
# printed under "STOP" but is a SHUTDOWN event: a slip in the document, kept
# as is in the data.
VNC_SERVER_2010 = {"auth": "sasl", "family": "ipv4", "service": "5901",
                   "host": "0.0.0.0"}
DOC_2010 = [
    ("BLOCK_IO_ERROR", 1265044230, 450486,
     {"device": "ide0-hd1", "operation": "write", "action": "stop"}),
    ("RESET", 1267041653, 9518, {}),
    ("SHUTDOWN", 1267040730, 682951, {}),
    ("SHUTDOWN", 1267041730, 281295, {}),  # documented under STOP
    ("VNC_CONNECTED", 1262976601, 975795,
     {"server": VNC_SERVER_2010,
      "client": {"family": "ipv4", "service": "58425",
                 "host": "127.0.0.1"}}),
    ("VNC_DISCONNECTED", 1262976601, 975795,
     {"server": VNC_SERVER_2010,
      "client": {"family": "ipv4", "service": "58425",
                 "host": "127.0.0.1", "sasl_username": "luiz"}}),
    ("VNC_INITIALIZED", 1263475302, 150772,
     {"server": VNC_SERVER_2010,
      "client": {"family": "ipv4", "service": "46089",
                 "host": "127.0.0.1", "sasl_username": "luiz"}}),
]
