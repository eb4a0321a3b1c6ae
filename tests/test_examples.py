"""The main job and the example programs run and reach their accuracy (small settings where they are slow)."""
import ast
import importlib.util
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_reaches_98_percent_on_held_out_digits():
    pytest.importorskip("sklearn")
    from ember import demo

    assert demo.main(["--verbose", "0"]) >= 0.98


def test_keras_binary_image_classifier_learns():
    example = load_example("binary_image_classifier")
    _, accuracy = example.main(epochs=8, samples=600, verbose=0)
    assert accuracy >= 0.9


def test_keras_programs_differ_from_keras_only_in_their_import_lines():
    tree = ast.parse((EXAMPLES / "binary_image_classifier.py").read_text())
    imports = [ast.unparse(node) for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
               and "ember" in ast.unparse(node)]
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert imports == ["import ember as keras", "from ember import layers"]
    assert "ember" not in names


def test_manual_training_loop_example_fits_two_spirals(capsys):
    example = load_example("two_spirals_manual_loop")
    example.main(["--epochs", "30"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert float(last.split()[2]) >= 0.95
