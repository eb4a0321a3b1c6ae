"""The classic Keras time-series tutorial: a recurrent network forecasts the next value of a seasonal series.

Written exactly as for Keras; only the import lines differ (`import ember as keras`, `from ember import layers`).
The series (two seasonal sine waves, a trend and noise) is made here. The forecast is compared with the naive
baseline that repeats the last value seen.

    python examples/time_series_forecast.py [--cell SimpleRNN|LSTM|GRU] [--epochs 15]
"""
import argparse

import numpy as np

import ember as keras
from ember import layers


def make_series(steps=2000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    series = (np.sin(2 * np.pi * t / 50) + 0.5 * np.sin(2 * np.pi * t / 12) + 0.0002 * t
              + 0.05 * rng.standard_normal(steps))
    return series.astype("float32")


def windows(series, width):
    """(samples, width, 1) inputs and the value that follows each window."""
    x = np.stack([series[i:i + width] for i in range(len(series) - width)])[..., None]
    return x, series[width:]


def build_model(cell="SimpleRNN", width=30, units=32):
    recurrent = getattr(layers, cell)
    model = keras.Sequential([
        keras.Input(shape=(width, 1)),
        recurrent(units, return_sequences=True),
        recurrent(units),
        layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3), loss="mse", metrics=["mae"])
    return model


def main(cell="SimpleRNN", epochs=15, steps=2000, verbose=1):
    keras.utils.set_random_seed(0)
    width = 30
    series = make_series(steps)
    split = int(0.8 * len(series))
    x_train, y_train = windows(series[:split], width)
    x_test, y_test = windows(series[split - width:], width)
    model = build_model(cell, width)
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_split=0.1, verbose=verbose)
    forecast = model.predict(x_test, verbose=0)[:, 0]
    mae = float(np.mean(np.abs(forecast - y_test)))
    naive = float(np.mean(np.abs(x_test[:, -1, 0] - y_test)))
    print(f"{cell}: test MAE {mae:.4f} vs naive last-value baseline {naive:.4f} ({naive / mae:.1f}x better)")
    return mae, naive


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="SimpleRNN", choices=["SimpleRNN", "LSTM", "GRU"])
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    main(args.cell, args.epochs)
