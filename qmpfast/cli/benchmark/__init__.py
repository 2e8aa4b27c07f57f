"""The peer comparison behind ``qmpfast bench`` (and ``python -m
benchmarks.run`` in a source tree): qmpfast against the standard library's
json, orjson, msgspec and qemu.qmp, on the same seeded stream.

Why it ships in the package: ``qmpfast bench`` must run where qmpfast is
installed, not only in a checkout.  ``streams`` generates the stream,
``peers`` holds one module per competitor, ``runner`` starts one
``worker`` process per (peer, job) and prints the tables, ``plot`` draws
them.  Nothing here imports qmpfast itself: a worker loads this folder on
its own (see ``runner.worker_command``), so a peer other than qmpfast is
measured in a process that never imported qmpfast, and the PyPy rows run
even where PyPy has no qmpfast installed.  Every import inside is
therefore relative.
"""
