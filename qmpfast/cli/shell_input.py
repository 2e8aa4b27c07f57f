"""What ``qmpfast shell`` makes of what is typed: lines split into a
command and its arguments, and completion of command and argument names
from the monitor's own schema (``query-qmp-schema``).

Kept apart from the terminal and the connection so that both can be
tested with plain strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from .exec import parse_arguments

# The shell's own words.  They start with a dot so that no QMP command can
# be mistaken for one: QMP's ``quit`` ends QEMU itself.
EXIT = ".exit"
SHELL_WORDS = (EXIT,)

_OPEN = {"[": "]", "{": "}"}
_CLOSE = {"]", "}"}


def split_words(text: str) -> list[str]:
    """``text`` split at white space outside JSON strings and brackets, so
    that ``keys=[1, 2]`` and ``command-line="info version"`` are one word
    each; quotes are kept (the value is then read as JSON).  ValueError
    saying what is left open."""
    words: list[str] = []
    word: list[str] = []
    closers: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            word.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char.isspace() and not closers:
            if word:
                words.append("".join(word))
                word = []
            continue
        word.append(char)
        if char == '"':
            in_string = True
        elif char in _OPEN:
            closers.append(_OPEN[char])
        elif char in _CLOSE and closers and closers[-1] == char:
            closers.pop()
    if in_string:
        raise ValueError("a string is not closed (missing '\"')")
    if closers:
        raise ValueError(f"{closers[-1]!r} missing at the end of the line")
    if word:
        words.append("".join(word))
    return words


def parse_line(line: str) -> tuple[str, dict[str, Any] | None] | None:
    """(command, arguments) of a typed line; None for an empty one.

    After the command comes nothing, one JSON object, or ``key=value``
    words whose values are read as ``qmpfast exec`` reads them (JSON when
    they parse, else a string).  ValueError saying what is wrong."""
    text = line.strip()
    if not text:
        return None
    command, _, rest = text.partition(" ")
    rest = rest.strip()
    if rest.startswith("{"):
        return command, parse_arguments([rest])
    return command, parse_arguments(split_words(rest))


def schema_arguments(schema: Iterable[Any]) -> dict[str, list[str]]:
    """{command: its argument names, in schema order} from the value of
    ``query-qmp-schema``; a command whose arguments the schema does not
    describe as an object gets none.  Entries that are not what QEMU
    documents are passed over: completion is a help, not a check."""
    objects: dict[str, list[str]] = {}
    commands: dict[str, str | None] = {}
    for entry in schema:
        if not isinstance(entry, dict):
            continue
        name, kind = entry.get("name"), entry.get("meta-type")
        if not isinstance(name, str):
            continue
        if kind == "command":
            arg_type = entry.get("arg-type")
            commands[name] = arg_type if isinstance(arg_type, str) else None
        elif kind == "object" and isinstance(entry.get("members"), list):
            objects[name] = [m["name"] for m in entry["members"]
                             if isinstance(m, dict)
                             and isinstance(m.get("name"), str)]
    return {command: list(objects.get(arg_type, [])) if arg_type else []
            for command, arg_type in sorted(commands.items())}


class QMPCompleter(Completer):
    """Command names at the start of a line, then the names of that
    command's arguments not given yet (inserted as ``name=``)."""

    def __init__(self, commands: dict[str, list[str]]) -> None:
        self.commands = commands

    def get_completions(self, document: Document,
                        complete_event: CompleteEvent
                        ) -> Iterator[Completion]:
        before = document.text_before_cursor
        stripped = before.lstrip()
        if not stripped or " " not in stripped and "\t" not in stripped:
            for name in sorted((*self.commands, *SHELL_WORDS)):
                if name.startswith(stripped):
                    yield Completion(name, -len(stripped))
            return
        command, _, rest = stripped.partition(" ")
        if rest.lstrip().startswith("{"):
            return
        try:
            words = split_words(rest)
        except ValueError:  # inside a value that is not finished
            return
        current = "" if not words or rest[-1:].isspace() else words.pop()
        if "=" in current:
            return
        given = {word.partition("=")[0] for word in words}
        for name in self.commands.get(command, []):
            if name.startswith(current) and name not in given:
                yield Completion(name + "=", -len(current),
                                 display=name)
