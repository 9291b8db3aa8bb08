"""The Pine script: it parses (pynescript, a real Pine grammar), follows docs/method.md
section 1's inputs and the engine's defaults (``OIOptions``), and plots exactly the titles
``liqlevels compare`` reads.

pynescript's ANTLR parser takes about a minute of CPU to parse the script cold. The parse runs in
a subprocess started when this module is imported, so it overlaps with other tests, and its
result is kept in the temp directory under the SHA-256 of the script and the pynescript
version: an unchanged script is not parsed twice, any edit is parsed afresh.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from pynescript.ast import dump, parse, walk
from pynescript.ast import node as pn
from pynescript.ast.error import SyntaxError as PineSyntaxError

from liqlevels import _compare as cmp
from liqlevels.indicator import OI_OPTION_NAMES, OIOptions
from liqlevels.vocab import DIRECTIONS, MA_TYPES

SCRIPT = Path(__file__).resolve().parents[1] / "pine" / "liquidation_levels_on_oi.pine"

# Pine built-ins the script may use; any other name must be defined in the script.
BUILTINS = frozenset({
    "array", "bar_index", "barmerge", "barstate", "bool", "box", "close", "color", "display",
    "extend", "float", "high", "indicator", "input", "int", "line", "low", "math", "na", "open",
    "nz", "plot", "position", "request", "runtime", "str", "string", "syminfo", "table",
    "timeframe", "volume",
})

_PARSER = """
import os, pickle, sys
from pynescript.ast import parse
script, out = sys.argv[1], sys.argv[2]
try:
    result = ("ok", parse(open(script, encoding="utf-8").read(), filename=script))
except Exception as exc:
    result = ("error", f"{type(exc).__name__}: {exc}")
with open(out + f".{os.getpid()}", "wb") as fh:
    pickle.dump(result, fh)
os.replace(out + f".{os.getpid()}", out)
"""


def _cache_path() -> Path:
    version = importlib.metadata.version("pynescript")
    digest = hashlib.sha256(SCRIPT.read_bytes() + version.encode()).hexdigest()[:32]
    folder = Path(tempfile.gettempdir()) / "liqlevels-pine-parse"
    folder.mkdir(exist_ok=True)
    return folder / f"{digest}.pickle"


def _start_parse() -> subprocess.Popen | None:
    if _cache_path().exists():
        return None
    return subprocess.Popen([sys.executable, "-c", _PARSER, str(SCRIPT), str(_cache_path())])


_BACKGROUND = _start_parse()


@pytest.fixture(scope="module")
def source() -> str:
    return SCRIPT.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def tree() -> pn.Script:
    if _BACKGROUND is not None:
        _BACKGROUND.wait(timeout=900)
    path = _cache_path()
    if not path.exists():  # the script changed since import, or the subprocess died
        subprocess.run([sys.executable, "-c", _PARSER, str(SCRIPT), str(path)], check=True,
                       timeout=900)
    status, value = pickle.loads(path.read_bytes())
    if status != "ok":
        pytest.fail(f"pynescript cannot parse {SCRIPT.name}: {value}")
    return value


def _calls(tree, name: str) -> list[pn.Call]:
    """Calls of ``name`` ("plot") or ``ns.attr`` ("input.int")."""
    out = []
    for node in walk(tree):
        if not isinstance(node, pn.Call):
            continue
        func = node.func
        if isinstance(func, pn.Name) and func.id == name:
            out.append(node)
        elif (isinstance(func, pn.Attribute) and isinstance(func.value, pn.Name)
              and f"{func.value.id}.{func.attr}" == name):
            out.append(node)
    return out


def _arg(call: pn.Call, position: int, name: str):
    """The argument given by keyword ``name`` or at ``position``, else None."""
    for arg in call.args:
        if arg.name == name:
            return arg.value
    positional = [a.value for a in call.args if a.name is None]
    return positional[position] if position < len(positional) else None


def _inputs(tree) -> dict[str, pn.Call]:
    """Variable name -> the input.*() call it is assigned."""
    out = {}
    for stmt in tree.body:
        if (isinstance(stmt, pn.Assign) and isinstance(stmt.value, pn.Call)
                and isinstance(stmt.value.func, pn.Attribute)
                and getattr(stmt.value.func.value, "id", None) == "input"):
            out[stmt.target.id] = stmt.value
    return out


def _constant(node):
    assert isinstance(node, pn.Constant), dump(node)
    return node.value


def test_parses_as_pine_v6(tree, source):
    assert tree.annotations == ["//@version=6"]
    assert source.count("//@version=") == 1
    (decl,) = _calls(tree, "indicator")
    assert _constant(_arg(decl, 0, "title")) == "Liquidation Levels on OI"
    assert _constant(_arg(decl, 99, "overlay")) is True
    assert _constant(_arg(decl, 99, "max_lines_count")) == 500


def test_the_parser_rejects_broken_pine(source):
    """pynescript really checks syntax: the same script with one parenthesis lost fails."""
    start = source.index("//@version=6")
    end = source.index("// ----", start)
    header = source[start:end]
    parse(header)
    broken = header.replace("max_bars_back = 1000)", "max_bars_back = 1000", 1)
    assert broken != header
    with pytest.raises(PineSyntaxError):
        parse(broken)


def test_plot_titles_are_exactly_what_compare_reads(tree):
    titles = [_constant(_arg(call, 1, "title")) for call in _calls(tree, "plot")]
    assert tuple(titles) == cmp.PLOT_TITLES
    assert titles[:5] == ["Open Interest", "OI Delta", "Baseline", "Tier", "Entry"]
    assert "Long 5x" in titles and "Short 100x" in titles


def test_plots_sit_in_global_scope(tree):
    top = {id(stmt.value) for stmt in tree.body if isinstance(stmt, pn.Expr)}
    assert all(id(call) in top for call in _calls(tree, "plot"))


# Each of the engine's six options, as the script's inputs (variable names) carry it.
PINE_INPUTS = {
    "ma_length": ("ma_length",),
    "ma_type": ("ma_type",),
    "thresholds": ("th_small", "th_medium", "th_large"),
    "leverages": ("leverages_text",),
    "direction": ("direction",),
    "mmr": ("mmr",),
}


def _pine_defaults(inputs: dict[str, pn.Call]) -> dict[str, object]:
    """The script's default for each of the engine's options, in the engine's types."""
    value = {name: _constant(_arg(call, 0, "defval")) for name, call in inputs.items()}
    return {
        "ma_length": value["ma_length"],
        "ma_type": value["ma_type"],
        "thresholds": tuple(value[k] for k in PINE_INPUTS["thresholds"]),
        "leverages": tuple(int(p) for p in value["leverages_text"].split(",")),
        "direction": value["direction"],
        "mmr": value["mmr"],
    }


def test_inputs_follow_the_engine_defaults(tree):
    """Every option of the engine is an input of the script, with OIOptions' default."""
    assert set(PINE_INPUTS) == set(OI_OPTION_NAMES)
    inputs = _inputs(tree)
    assert {v for names in PINE_INPUTS.values() for v in names} <= set(inputs)
    assert OIOptions(**_pine_defaults(inputs)) == OIOptions()
    assert _pine_defaults(inputs) == OIOptions().as_dict()
    assert OIOptions().leverages == cmp.PINE_LEVERAGES
    ma_options = [_constant(e) for e in _arg(inputs["ma_type"], 99, "options").elts]
    assert tuple(ma_options) == MA_TYPES
    directions = [_constant(e) for e in _arg(inputs["direction"], 99, "options").elts]
    assert tuple(directions) == DIRECTIONS
    assert _constant(_arg(inputs["oi_override"], 0, "defval")) == ""


def test_open_interest_from_binance_by_default(tree, source):
    assert '"BINANCE:" + syminfo.basecurrency + "USDT.P_OI"' in source
    (security,) = _calls(tree, "request.security")
    assert getattr(_arg(security, 0, "symbol"), "id", None) == "oi_symbol"
    gaps = _arg(security, 99, "gaps")
    assert (gaps.value.id, gaps.attr) == ("barmerge", "gaps_on")  # missing OI reads na
    lookahead = _arg(security, 99, "lookahead")
    assert (lookahead.value.id, lookahead.attr) == ("barmerge", "lookahead_off")


def test_every_name_is_defined_or_builtin(tree):
    """Catches a misspelt variable, which pynescript's grammar alone would accept."""
    defined = set(BUILTINS)
    for node in walk(tree):
        if isinstance(node, pn.Name) and isinstance(node.ctx, pn.Store):
            defined.add(node.id)
        elif isinstance(node, pn.FunctionDef):
            defined.add(node.name)
            defined.update(p.name for p in node.args)
    used = {n.id for n in walk(tree) if isinstance(n, pn.Name) and isinstance(n.ctx, pn.Load)}
    assert used - defined == set()


def test_functions_are_called_with_their_arity(tree):
    arity = {f.name: len(f.args) for f in walk(tree) if isinstance(f, pn.FunctionDef)}
    for name, count in arity.items():
        calls = _calls(tree, name)
        assert calls, f"{name} is never called"
        for call in calls:
            assert len(call.args) == count, f"{name} called with {len(call.args)} arguments"


_BRANCHES = (pn.If, pn.ForTo, pn.ForIn, pn.While, pn.Switch, pn.Conditional, pn.BoolOp)


def _unconditional_calls(body: list) -> list[pn.Call]:
    """Calls made on every run of ``body``: not under if/for/while/switch, a ternary, or the
    lazy right side of and/or."""
    out, todo = [], list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, _BRANCHES):
            continue
        if isinstance(node, pn.Call):
            out.append(node)
        todo.extend(_children(node))
    return out


def _children(node) -> list:
    from pynescript.ast import iter_child_nodes

    return list(iter_child_nodes(node))


def test_stateful_functions_run_on_every_bar(tree):
    """Functions with history references or ``var`` state, directly or through the functions
    they call, must run on every bar: called unconditionally from global scope or from another
    such function. Otherwise Pine warns and their history is wrong."""
    funcs = {f.name: f for f in walk(tree) if isinstance(f, pn.FunctionDef)}
    stateful = {name for name, f in funcs.items() if any(
        isinstance(n, pn.Subscript) or (isinstance(n, pn.Assign) and n.mode is not None)
        for n in walk(f))}
    while True:  # and whatever calls them
        more = {name for name, f in funcs.items()
                if any(getattr(c.func, "id", None) in stateful for c in _calls_in(f))}
        if more <= stateful:
            break
        stateful |= more
    assert stateful == {"window_sums", "window_ma", "recent_sum", "ema_spec"}
    safe = {id(c) for c in _unconditional_calls(tree.body)}
    for name in stateful:
        safe |= {id(c) for c in _unconditional_calls(funcs[name].body)}
    for name in stateful:
        for call in _calls(tree, name):
            assert id(call) in safe, f"{name} is called conditionally: {dump(call)[:80]}"


def _calls_in(func: pn.FunctionDef) -> list[pn.Call]:
    return [n for n in walk(func) if isinstance(n, pn.Call)]


def test_lines_end_on_a_later_bar_only(source):
    """Touches are checked before the bar's own lines are added (docs/method.md 1.7)."""
    longs = source.index("\nend_touched(long_keys, long_ids, low)\n")
    shorts = source.index("\nend_touched(short_keys, short_ids, -high)\n")
    add = source.index("\nif trigger\n    add_lines(tier)")
    assert longs < add and shorts < add
