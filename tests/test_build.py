"""The build and the choice of backend.

* csrc/qmpscan.h is the scanner's contract: the C module takes its numbers
  from the compiler, the pure-Python backend from qmpfast/scan/_header.py,
  generated from the header; both must agree with it.
* QMPFAST_REQUIRE_C=1 means the C scanner runs, or qmpfast does not import;
  QMPFAST_PUREPYTHON=1 means the pure-Python one runs.
* Without a working C compiler the build still succeeds, with a warning, and
  qmpfast runs on its pure-Python backend.
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sysconfig
import sys

import pytest

import qmpfast
from qmpfast.scan import _header as K
from qmpfast.scan import records as R
from qmpfast.scan import available_backends

REPO = os.path.dirname(os.path.dirname(os.path.abspath(qmpfast.__file__)))
HEADER = os.path.join(REPO, "csrc", "qmpscan.h")
BUILDER = os.path.join(REPO, "csrc", "build_ffi.py")
WARNING = "WARNING: the qmpfast C scanner could not be built"


def env_with(**changes):
    env = dict(os.environ)
    for key in ("QMPFAST_PUREPYTHON", "QMPFAST_REQUIRE_C"):
        env.pop(key, None)
    env.update(changes)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return env


def python(code, env, cwd=REPO):
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


# ---- the header is the contract -----------------------------------------

def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def header_constants():
    return _load(BUILDER, "qmpfast_build_ffi").header_constants()


def test_generated_header_module_is_up_to_date():
    gen = _load(os.path.join(REPO, "tools", "gen_header.py"), "gen_header")
    with open(os.path.join(REPO, "qmpfast", "scan", "_header.py"),
              encoding="utf-8") as f:
        assert f.read() == gen.render(), \
            "run python tools/gen_header.py after changing qmpscan.h"


def test_every_header_number_reaches_python_once():
    constants = header_constants()
    assert len(constants) > 50
    for name, value, _ in constants:
        assert getattr(K, name) == value, name
    names = {name for name, _, _ in constants}
    for name, value in vars(K).items():
        if name.isupper() and type(value) is int:
            assert name in names, f"{name} is not defined in qmpscan.h"


def test_the_compiled_module_agrees_with_the_generated_one():
    if "c" not in available_backends():
        pytest.skip("the C backend is not built here")
    from qmpfast.scan._qmpscan import ffi, lib
    for name, value, _ in header_constants():
        assert getattr(lib, "QMPF_" + name) == value == getattr(K, name)
    assert len(ffi.new("qmpf_schema *").role_slot) == K.ROLES


def test_the_builder_types_no_number_of_the_header():
    with open(BUILDER, encoding="utf-8") as f:
        builder = f.read()
    cdef = builder[builder.index('CDEF = '):builder.index("ffibuilder =")]
    assert not re.search(r"\[\d+\]", cdef), "array length typed in the cdef"
    with open(HEADER, encoding="utf-8") as f:
        header = f.read()
    functions = re.findall(r"^\w[\w ]*?\b(qmpf_\w+)\(", cdef, re.M)
    assert "qmpf_scan" in functions and len(functions) >= 5
    for function in functions:
        assert re.search(r"\b" + function + r"\(", header), function


def test_record_layout_and_codes():
    assert (R.R_START, R.R_END, R.R_SECONDS, R.R_MICROS, R.R_TAG,
            R.R_ERRPOS) == tuple(range(R.REC_FIELDS))
    codes = {v for n, v in vars(K).items()
             if n.startswith("E_") and type(v) is int}
    assert set(K.ERROR_TEXT) == codes
    assert all(K.ERROR_TEXT.values())
    assert R.PROTOCOL_CODES <= codes
    kinds = [v for n, v in vars(K).items() if n.startswith("KIND_")]
    assert len(set(kinds)) == len(kinds)
    # the kind is the tag's low bits; the flags lie above it
    assert max(kinds) <= K.TAG_KIND_MASK < K.TAG_BIGTS


def test_tags_pack_and_unpack():
    for kind in (K.KIND_EVENT, K.KIND_RETURN, K.KIND_MESSAGE):
        for name_id in (-1, 0, 7, 100000):
            tag = R.event_tag(kind, name_id, K.TAG_BIGTS)
            assert R.tag_kind(tag) == kind
            assert R.tag_name_id(tag) == name_id
            assert tag & K.TAG_BIGTS
    for code in K.ERROR_TEXT:
        for byte in (-1, 0, 0x7B, 255):
            tag = R.bad_tag(code, byte)
            assert R.tag_kind(tag) == K.KIND_BAD
            assert (R.tag_code(tag), R.tag_byte(tag)) == (code, byte)


# ---- choosing the backend -------------------------------------------------

def test_backend_attribute():
    assert qmpfast.BACKEND in ("c", "python")
    assert qmpfast.BACKEND in available_backends()
    assert qmpfast.Decoder().backend == qmpfast.BACKEND
    if os.environ.get("QMPFAST_REQUIRE_C", "") not in ("", "0"):
        assert qmpfast.BACKEND == "c"
    if os.environ.get("QMPFAST_PUREPYTHON", "") not in ("", "0"):
        assert qmpfast.BACKEND == "python"


SHOW = ("import qmpfast; print(qmpfast.BACKEND, qmpfast.Decoder().backend, "
        "qmpfast.parse(b'{\"return\": 1}').value)")


def test_require_c_gives_the_c_backend():
    proc = python(SHOW, env_with(QMPFAST_REQUIRE_C="1"))
    if "c" in available_backends():
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["c", "c", "1"]
    else:
        # not built here: importing must fail loudly, not fall back
        assert proc.returncode != 0
        assert "QMPFAST_REQUIRE_C" in proc.stderr


def test_purepython_gives_the_python_backend():
    proc = python(SHOW, env_with(QMPFAST_PUREPYTHON="1"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["python", "python", "1"]


def test_purepython_still_lets_a_decoder_pick_c():
    if "c" not in available_backends():
        pytest.skip("the C backend is not built here")
    proc = python("import qmpfast; d = qmpfast.Decoder(backend='c'); "
                  "print(qmpfast.BACKEND, d.backend, "
                  "d.feed(b'{\"a\": 1}')[0].to_dict())",
                  env_with(QMPFAST_PUREPYTHON="1"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["python", "c", "{'a':", "1}"]


def test_both_switches_at_once_is_an_error():
    proc = python("import qmpfast",
                  env_with(QMPFAST_PUREPYTHON="1", QMPFAST_REQUIRE_C="1"))
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr


def test_zero_means_unset():
    proc = python(SHOW, env_with(QMPFAST_PUREPYTHON="0"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == ("c" if "c" in available_backends()
                                      else "python")


def test_unknown_backend_name():
    with pytest.raises(ValueError):
        qmpfast.Decoder(backend="rust")


# ---- building without a compiler ------------------------------------------

IGNORE = shutil.ignore_patterns(
    ".git", "build", "dist", "*.egg-info", "*.so", "*.pyd", "*.o",
    "__pycache__", ".pytest_cache", ".hypothesis", ".venv", ".benchmarks",
    "_qmpscan.c")


def _copy_of_the_repository(tmp_path):
    copy = tmp_path / "qmpfast-src"
    shutil.copytree(REPO, copy, ignore=IGNORE, symlinks=True)
    return copy


def _need_build_tools():
    missing = [name for name in ("setuptools", "cffi")
               if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"cannot run setup.py here: {', '.join(missing)} not "
                    "installed (the build needs setuptools and cffi)")


def _import_from(path, cwd):
    """Import qmpfast from ``path`` in a fresh interpreter.

    ``-S`` keeps site's .pth files out: an editable install of this very
    checkout (as CI makes) would otherwise map ``qmpfast.scan._qmpscan`` to its
    own compiled module.  site-packages stay on the path for cffi.
    """
    paths = [str(path)] + sorted({sysconfig.get_paths()["purelib"],
                                  sysconfig.get_paths()["platlib"]})
    env = env_with()
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return subprocess.run(
        [sys.executable, "-S", "-c",
         "import qmpfast, os; "
         "print(qmpfast.BACKEND, os.path.dirname(qmpfast.__file__)); "
         "d = qmpfast.Decoder(); "
         "m = d.feed(open(os.path.join(os.path.dirname(qmpfast.__file__), "
         "'samples', 'qemu-7.2.qmp'), 'rb').read()); "
         "print(len(m), sum(x.kind == 'event' for x in m))"],
        env=env, cwd=str(cwd), capture_output=True, text=True, timeout=120)


def _assert_pure_python_install(path, tmp_path):
    """qmpfast imports from ``path`` on its Python backend and decodes the
    bundled capture (30 messages, 14 events)."""
    proc = _import_from(path, tmp_path)
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    assert first == f"python {path / 'qmpfast'}"
    assert second == "30 14"
    # said once at import, where the user sees it
    assert proc.stderr.count("the C scanner is not available") == 1
    assert "QMPFAST_PUREPYTHON=1" in proc.stderr


def test_build_ext_without_a_compiler_warns_and_falls_back(tmp_path):
    _need_build_tools()
    copy = _copy_of_the_repository(tmp_path)
    env = env_with(CC="/nonexistent/cc")
    env["PYTHONPATH"] = ""
    proc = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    output = proc.stdout + proc.stderr
    assert WARNING in output
    assert "/nonexistent/cc" in output
    assert "pure-Python" in output
    built = [p for p in (copy / "qmpfast" / "scan").iterdir()
             if p.name.startswith("_qmpscan") and p.suffix in (".so", ".pyd")]
    assert built == []
    _assert_pure_python_install(copy, tmp_path)


def test_pip_install_without_a_compiler_warns_and_falls_back(tmp_path):
    _need_build_tools()
    copy = _copy_of_the_repository(tmp_path)
    target = tmp_path / "site"
    env = env_with(CC="/nonexistent/cc")
    env["PYTHONPATH"] = ""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-v", "--no-build-isolation",
         "--no-deps", "--no-index", "--target", str(target), str(copy)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 and re.search(
            r"No module named '?(pip|wheel|setuptools)|"
            r"invalid command 'bdist_wheel'", output):
        pytest.skip("pip cannot build here without network access to its "
                    "build requirements: " + output.strip().splitlines()[-1])
    assert proc.returncode == 0, output
    assert WARNING in output
    _assert_pure_python_install(target, tmp_path)


def test_the_sdist_builds_an_abi3_wheel_with_the_c_scanner(tmp_path):
    _need_build_tools()
    if sysconfig.get_config_var("CC") is None or shutil.which("gcc") is None \
            and shutil.which("cc") is None:
        pytest.skip("no C compiler here")
    copy = _copy_of_the_repository(tmp_path)
    env = env_with()
    env["PYTHONPATH"] = ""
    run = dict(env=env, capture_output=True, text=True, timeout=600)
    proc = subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d",
                           str(tmp_path / "dist")], cwd=copy, **run)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (sdist,) = (tmp_path / "dist").iterdir()
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-build-isolation",
         "--no-deps", "--no-index", "-w", str(tmp_path / "wheels"),
         str(sdist)], cwd=tmp_path, **run)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 and re.search(
            r"No module named '?(pip|wheel|setuptools)|"
            r"invalid command 'bdist_wheel'", output):
        pytest.skip("pip cannot build here: " + output.splitlines()[-1])
    assert proc.returncode == 0, output
    assert WARNING not in output
    (wheel,) = (tmp_path / "wheels").iterdir()
    if sys.implementation.name == "cpython":
        assert "-abi3-" in wheel.name, wheel.name
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
         "--target", str(tmp_path / "site"), str(wheel)], cwd=tmp_path, **run)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _import_from(tmp_path / "site", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"c {tmp_path / 'site' / 'qmpfast'}", "30 14"]
    assert "not available" not in proc.stderr


def test_build_ext_with_purepython_skips_the_c_build(tmp_path):
    _need_build_tools()
    copy = _copy_of_the_repository(tmp_path)
    env = env_with(QMPFAST_PUREPYTHON="1", CC="/nonexistent/cc")
    env["PYTHONPATH"] = ""
    proc = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    output = proc.stdout + proc.stderr
    assert "QMPFAST_PUREPYTHON is set" in output
    assert WARNING not in output  # nothing was attempted
    assert "/nonexistent/cc" not in output
