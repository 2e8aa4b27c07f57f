"""The pure-Python backend: the twin of the C scanner (csrc/qmpscan.c).

It gives exactly the records of the C scanner, for users without a
compiler.  Its modules follow the sections of the C scanner:

* tokens.py: byte patterns of JSON tokens, the UTF-8 check;
* keys.py: the members the state machine tracks (the key table);
* strings.py, numbers.py: tokens cut by the end of the input, resumed;
* machine.py: the state machine itself, one message at a time;
* classify.py: what a finished message is, and whether it is valid QMP,
  for both paths;
* lines.py: the fast path, complete lines through the json module;
* scanner.py: the driver (the interface of csrc/qmpscan.h);
* batch.py: the records of one call, and the values they hold.
"""

from .batch import Batch
from .scanner import Scanner

__all__ = ["Batch", "Scanner"]
