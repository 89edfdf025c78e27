"""The one YAML reader refuses alias bombs, duplicate keys, Python tags, huge and non-UTF-8 files.

Each refusal is one line that names the file, and comes before any memory is spent expanding.
"""

import pytest

from lossevo.search.space import SpaceError, load_space
from lossevo.studies.protocol import ProtocolError, load_protocol
from lossevo.util.errors import LossevoError
from lossevo.util.yaml_io import MAX_BYTES, load_yaml


def alias_bomb(key: str) -> str:
    """Nine levels of nine aliases: about 387 million strings once expanded."""
    lines = ['a0: &a0 "lol"']
    for level in range(1, 9):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    lines.append(f"{key}: [{', '.join(['*a8'] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "content, match",
    [
        (alias_bomb("description").encode(), "anchors and aliases"),
        (b"name: t\nbase: &b 1\nother: *b\n", "anchors and aliases"),
        (b"name: t\nname: u\n", "duplicate key 'name'"),
        (b"top:\n  x: 1\n  x: 2\n", "duplicate key 'x'"),
        (b"x: !!python/object/apply:os.system ['touch PWNED']\n", "malformed YAML at line 1"),
        (b"name: caf\xe9\n", "not UTF-8"),
        (b"name: [1, 2\n", "malformed YAML at line"),
        (b"x: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply|malformed"),
        (b"# padding\n" * (MAX_BYTES // 10 + 1), "larger than"),
    ],
    ids=["bomb", "alias", "dup", "nested-dup", "tag", "latin1", "malformed", "deep", "huge"],
)
def test_refusals_are_one_line_naming_the_file(tmp_path, content, match):
    path = tmp_path / "file.yaml"
    path.write_bytes(content)
    with pytest.raises(LossevoError, match=match) as info:
        load_yaml(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message and len(message) < 400
    assert not (tmp_path / "PWNED").exists()


def test_plain_yaml_reads_as_before(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("name: t\nlist: [1, 2.5, x]\nnested: {a: null, b: true}\n", encoding="utf-8")
    assert load_yaml(path) == {"name": "t", "list": [1, 2.5, "x"], "nested": {"a": None, "b": True}}


def test_spaces_and_protocols_use_it_with_their_own_error(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("operators: [add]\n" + alias_bomb("name"))
    with pytest.raises(SpaceError, match="anchors and aliases"):
        load_space(str(space))
    protocol = tmp_path / "protocol.yaml"
    protocol.write_text("name: p\nruns: 1\nsteps: 5\ntask_config: {}\n" + alias_bomb("description"))
    with pytest.raises(ProtocolError, match="anchors and aliases"):
        load_protocol(protocol)
    protocol.write_bytes(b"name: p\nruns: 1\nruns: 2\n")
    with pytest.raises(ProtocolError, match=f"{protocol}: malformed YAML.*duplicate key 'runs'"):
        load_protocol(protocol)
