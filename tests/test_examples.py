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


KERAS_PROGRAMS = ["binary_image_classifier", "time_series_forecast", "sentiment_classification",
                  "char_language_model", "seq2seq_reverse"]


@pytest.mark.parametrize("name", KERAS_PROGRAMS)
def test_keras_programs_differ_from_keras_only_in_their_import_lines(name):
    tree = ast.parse((EXAMPLES / f"{name}.py").read_text())
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


def test_simple_rnn_forecast_beats_the_naive_baseline_by_far():
    mae, naive = load_example("time_series_forecast").main("SimpleRNN", epochs=15, verbose=0)
    assert mae < 0.5 * naive


def test_sentiment_classifier_reads_masked_padded_reviews():
    assert load_example("sentiment_classification").main(epochs=8, verbose=0) >= 0.9


def test_char_language_model_continues_its_text():
    example = load_example("char_language_model")
    history, text = example.main(epochs=30, prompt="the miller keeps", length=20, verbose=0)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]
    assert example.TEXT.startswith(text[:30], example.TEXT.index("the miller keeps"))


def test_seq2seq_with_attention_reverses_digit_sequences():
    assert load_example("seq2seq_reverse").main(length=5, epochs=20, verbose=0) >= 0.95
