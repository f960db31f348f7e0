"""A tiny, independent evaluator of the equation text in ``sw.training.equations``.

It parses each ``name = expr`` line with ``ast``, allows only the grammar's
node types, and evaluates the expression on torch tensors.  Tests run it next
to the torch cells to check that each cell implements exactly its text.
"""

from __future__ import annotations

import ast

import torch

_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Call, ast.Name,
            ast.Load, ast.Constant, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.USub,
            ast.Gt, ast.GtE, ast.Lt, ast.LtE)
_FUNCS = {"exp", "min", "max", "clip"}


def _t(x, like):
    return x if torch.is_tensor(x) else torch.tensor(x, dtype=like.dtype)


def _min(a, b):
    ref = a if torch.is_tensor(a) else b
    return torch.minimum(_t(a, ref), _t(b, ref))


def _max(a, b):
    ref = a if torch.is_tensor(a) else b
    return torch.maximum(_t(a, ref), _t(b, ref))


def _clip(x, lo, hi):
    return _min(_max(x, lo), hi)


def parse(text: str) -> list[tuple[str, object]]:
    """``[(target, compiled expression), ...]`` for every statement line."""
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        target, expr = (s.strip() for s in line.split("=", 1))
        assert target.isidentifier(), line
        tree = ast.parse(expr, mode="eval")
        for node in ast.walk(tree):
            assert isinstance(node, _ALLOWED), f"{type(node).__name__} not in grammar: {line}"
            if isinstance(node, ast.Call):
                assert isinstance(node.func, ast.Name) and node.func.id in _FUNCS, line
        out.append((target, compile(tree, "<eq>", "eval")))
    return out


def step(program, env: dict) -> dict:
    """Run one timestep of a parsed program, updating and returning ``env``."""
    funcs = {"exp": torch.exp, "min": _min, "max": _max, "clip": _clip}
    for target, code in program:
        val = eval(code, {"__builtins__": {}}, {**funcs, **env})
        if torch.is_tensor(val) and val.dtype == torch.bool:
            val = val.to(torch.float32)
        env[target] = val
    return env
