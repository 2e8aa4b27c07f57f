"""Build of qmpfast: the C scanner through cffi, or pure Python.

The C module is optional.  If it cannot be built (no compiler, no cffi at
build time) the install still succeeds with a clear warning and qmpfast runs
on its pure-Python backend.  QMPFAST_PUREPYTHON=1 skips the build.
"""

import os
import platform
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that turns a failed C build into a warning."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any build failure
            self._warn(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._warn(exc)

    def _warn(self, exc):
        if getattr(self, "_warned", False):  # the copy step fails too
            return
        self._warned = True
        bar = "*" * 72
        sys.stderr.write(
            f"\n{bar}\nWARNING: the qmpfast C scanner could not be built "
            f"({exc}).\nqmpfast is installed with its pure-Python backend, "
            f"which is slower.\n{bar}\n\n")


kwargs = {}
if os.environ.get("QMPFAST_PUREPYTHON", "") not in ("", "0"):
    sys.stderr.write("QMPFAST_PUREPYTHON is set: not building the C scanner\n")
else:
    kwargs["cffi_modules"] = ["csrc/build_ffi.py:ffibuilder"]
    if platform.python_implementation() == "CPython":
        # the module uses only the stable ABI (cffi's default on CPython):
        # one wheel serves every CPython from 3.9 on
        kwargs["options"] = {"bdist_wheel": {"py_limited_api": "cp39"}}

setup(cmdclass={"build_ext": OptionalBuildExt}, **kwargs)
