"""ember.GAN: a generator and a discriminator trained in turn, the Keras "GAN with a custom train_step" pattern
ready-made, with the non-saturating generator loss and one-sided label smoothing.

    gan = ember.GAN(discriminator=d, generator=g, latent_dim=64)
    gan.compile(d_optimizer=ember.optimizers.Adam(2e-4, beta_1=0.5),
                g_optimizer=ember.optimizers.Adam(2e-4, beta_1=0.5), label_smoothing=0.1)
    history = gan.fit(images, epochs=10, batch_size=64)     # history.history["d_loss"], ["g_loss"]
    samples = gan.generate(64, seed=0)

Subclass it and override `train_step(real)` (return a dict of floats) for another objective: `fit` averages
whatever the dict holds over each epoch, as Keras 3 does with a custom train_step.
"""
import contextlib

import numpy as np

from .. import autograd, callbacks as callbacks_module
from .. import random as _random
from ..layers.base import Layer, invalid_argument
from ..tensor import Tensor
from ..utils.progbar import Progbar
from .model import Model
from .training import _array_batches, _is_dataset, _length, _to_numpy


@contextlib.contextmanager
def frozen(weights):
    """Weights that take no gradient inside the block: the generator's loss passes through the discriminator,
    whose weights must neither accumulate gradients nor cost their computation there."""
    previous = [w.requires_grad for w in weights]
    for w in weights:
        w.requires_grad = False
    try:
        yield
    finally:
        for w, flag in zip(weights, previous):
            w.requires_grad = flag


def _latent_dim_of(generator):
    """The generator's input width when it declares one (an Input or input_shape), else None."""
    graph = getattr(generator, "_graph", None)
    shape = None
    if graph is not None and len(graph.inputs) == 1:
        shape = tuple(graph.inputs[0].shape[1:])
    elif getattr(generator, "_input_spec", None) is not None:
        shape = tuple(generator._input_spec[0])
    return shape[0] if shape is not None and len(shape) == 1 else None


class GAN(Model):
    """A generator G (latent vector -> sample) and a discriminator D (sample -> one logit per sample).

    One `train_step` on a batch of n real samples, as PyTorch's DCGAN example:
      1. fake = G(z), z ~ N(0, 1) of shape (n, latent_dim); one generator forward serves both phases.
      2. discriminator: d_loss = (loss(1 - s, D(real)) + loss(0, D(fake))) / 2, gradients into D only
         (fake is detached), one `d_optimizer` step. s is `label_smoothing`, applied to the real labels only
         (one-sided, Salimans et al. 2016: smoothing the fake labels would reward the generator's mistakes).
      3. generator: g_loss = loss(1, D(fake)), the non-saturating loss -log D(G(z)) of Goodfellow et al. 2014
         (its gradient stays large while D rejects the samples, unlike log(1 - D(G(z)))), with D frozen:
         gradients into G only, one `g_optimizer` step.
    The default loss is binary cross-entropy on logits, so D ends in a Dense(1) without a sigmoid; pass
    loss="binary_crossentropy" for a D that ends in a sigmoid.
    """

    def __init__(self, discriminator, generator, latent_dim=None, name=None):
        super().__init__(name=name)
        for role, model in (("discriminator", discriminator), ("generator", generator)):
            if not isinstance(model, Layer):
                raise TypeError(f"GAN: `{role}` must be an ember Model or Layer. Received: {type(model).__name__}")
        if discriminator is generator:
            raise ValueError("GAN: the generator and the discriminator must be two different models")
        latent_dim = _latent_dim_of(generator) if latent_dim is None else latent_dim
        if latent_dim is None:
            raise ValueError("GAN: pass `latent_dim`; the generator does not declare a 1-D input shape to take it from")
        if not isinstance(latent_dim, (int, np.integer)) or isinstance(latent_dim, bool) or latent_dim < 1:
            raise invalid_argument("latent_dim", "a positive int", latent_dim)
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = int(latent_dim)
        self.d_optimizer = self.g_optimizer = None

    def compile(self, d_optimizer="adam", g_optimizer="adam", loss=None, label_smoothing=0.0, loss_fn=None,
                **kwargs):
        """Two optimizers (objects or names), the loss (default: binary cross-entropy on logits; `loss_fn` is
        the Keras tutorial's spelling) and one-sided `label_smoothing` s in [0, 1): real targets become 1 - s."""
        from .. import losses, optimizers

        if kwargs:
            raise TypeError(f"GAN.compile: unexpected arguments {sorted(kwargs)}; a GAN takes d_optimizer, "
                            f"g_optimizer, loss and label_smoothing")
        if loss is not None and loss_fn is not None:
            raise ValueError("GAN.compile: pass `loss` or its alias `loss_fn`, not both")
        loss = loss if loss is not None else loss_fn
        d_optimizer, g_optimizer = optimizers.get(d_optimizer), optimizers.get(g_optimizer)
        if d_optimizer is None or g_optimizer is None:
            raise ValueError("GAN.compile: both `d_optimizer` and `g_optimizer` are needed (objects or names)")
        if d_optimizer is g_optimizer:
            raise ValueError("GAN.compile: `d_optimizer` and `g_optimizer` must be two optimizer objects; one "
                             "shared object would count two updates per step (schedules would run twice as fast)")
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) or \
                not 0.0 <= label_smoothing < 1.0:
            raise invalid_argument("label_smoothing", "a float in [0, 1)", label_smoothing)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        self.loss = loss
        self.loss_fn = losses.BinaryCrossentropy(from_logits=True) if loss is None else losses.get(loss)
        self.label_smoothing = float(label_smoothing)
        self.optimizer = None  # two optimizers: callbacks that tune `model.optimizer` do not apply to a GAN
        self.compiled = True

    # -- sampling -------------------------------------------------------------------------------------------------
    def sample_latent(self, n, seed=None):
        """(n, latent_dim) float32 standard-normal latent vectors: from `seed` when given (the same seed gives the
        same vectors), else from ember's seeded generator (ember.manual_seed)."""
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise invalid_argument("n", "a positive int", n)
        rng = _random.generator() if seed is None else np.random.default_rng(seed)
        return rng.standard_normal((int(n), self.latent_dim)).astype(self.generator.dtype)

    def generate(self, n, seed=None, batch_size=256):
        """`n` samples from the generator in inference mode, as a NumPy array (n, ...)."""
        z = self.sample_latent(n, seed)
        with autograd.no_grad():
            return np.concatenate([self.generator(z[i:i + batch_size], training=False).numpy()
                                   for i in range(0, len(z), batch_size)])

    def call(self, inputs, training=None):
        """Latent vectors -> samples, so that `gan.predict(z)` and `gan(z)` generate."""
        return self.generator(inputs, training=training)

    # -- one step -------------------------------------------------------------------------------------------------
    def _require_compiled(self, what):
        if not self.compiled or self.d_optimizer is None:
            raise RuntimeError(f"You must call compile(d_optimizer=..., g_optimizer=...) before {what}().")

    def _targets(self, n, value):
        return np.full((n, 1), value, dtype=self.discriminator.dtype)

    @staticmethod
    def _step(loss, params, optimizer):
        for p in params:
            p.grad = None
        loss.backward()
        optimizer.step(params)
        for p in params:  # the gradients were spent: free them (and leave nothing for another phase to add to)
            p.grad = None
        return float(loss.item())

    def discriminator_step(self, real, fake):
        """One update of D towards real -> 1 - label_smoothing, fake -> 0; returns d_loss."""
        d = self.discriminator
        real_logits = d(real, training=True)
        fake_logits = d(fake, training=True)
        loss = 0.5 * (self.loss_fn(self._targets(real_logits.shape[0], 1.0 - self.label_smoothing), real_logits)
                      + self.loss_fn(self._targets(fake_logits.shape[0], 0.0), fake_logits))
        for penalty in d.losses:
            loss = loss + penalty
        return self._step(loss, d.trainable_weights, self.d_optimizer)

    def generator_step(self, fake):
        """One update of G through the frozen D towards D(fake) -> 1 (non-saturating); returns g_loss.
        `fake` must be G's output with its graph (not detached)."""
        g = self.generator
        with frozen(self.discriminator.trainable_weights):
            logits = self.discriminator(fake, training=True)
            loss = self.loss_fn(self._targets(logits.shape[0], 1.0), logits)
            for penalty in g.losses:
                loss = loss + penalty
            return self._step(loss, g.trainable_weights, self.g_optimizer)

    def train_step(self, real, y=None):
        """One discriminator update, then one generator update; returns {"d_loss": ..., "g_loss": ...}."""
        real = real if isinstance(real, Tensor) else np.asarray(real, dtype=self.discriminator.dtype)
        fake = self.generator(self.sample_latent(real.shape[0]), training=True)
        d_loss = self.discriminator_step(real, fake.detach())
        g_loss = self.generator_step(fake)
        return {"d_loss": d_loss, "g_loss": g_loss}

    def train_on_batch(self, x, y=None, return_dict=True):
        self._require_compiled("train_on_batch")
        logs = self.train_step(_to_numpy(x))
        return logs if return_dict else list(logs.values())

    # -- the loop -------------------------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, shuffle=True,
            initial_epoch=0, steps_per_epoch=None):
        """Train on unlabelled samples `x` (an array, or an iterable of batches) for `epochs`; returns a History
        whose `.history` holds each epoch's mean "d_loss" and "g_loss" (every key train_step returns)."""
        self._require_compiled("fit")
        if y is not None:
            raise ValueError("GAN.fit learns from unlabelled samples: pass only `x` (received `y` too)")
        batch_size = 32 if batch_size is None else batch_size
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise invalid_argument("batch_size", "a positive int", batch_size)
        verbose = 1 if verbose == "auto" else verbose
        dataset = _is_dataset(x, None)
        if x is None or (not dataset and _length(_to_numpy(x), "x") == 0):
            raise ValueError("GAN.fit: expected training samples in `x`. Received: none")
        x = x if dataset else _to_numpy(x)
        steps = steps_per_epoch or (len(x) if dataset and hasattr(x, "__len__") else
                                    None if dataset else -(-len(x) // batch_size))
        history = callbacks_module.History()
        cbs = callbacks_module.CallbackList(list(callbacks or []) + [history], self,
                                            {"epochs": epochs, "steps": steps, "verbose": verbose})
        self.stop_training = False
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            bar = Progbar(steps, verbose)
            sums, count, step = {}, 0, 0
            batches = iter(x) if dataset else _array_batches(x, None, batch_size, shuffle)
            for batch in batches:
                real = batch[0] if isinstance(batch, tuple) else batch  # (x, y) batches: the labels are unused
                cbs.on_train_batch_begin(step)
                logs = self.train_step(real)
                size = _length(_to_numpy(real), "x")
                for key, value in logs.items():
                    sums[key] = sums.get(key, 0.0) + float(value) * size
                count, step = count + size, step + 1
                cbs.on_train_batch_end(step - 1, dict(logs))
                bar.update(step, {k: v / count for k, v in sums.items()})
                if self.stop_training or (steps_per_epoch and step >= steps_per_epoch):
                    break
            logs = {k: v / max(count, 1) for k, v in sums.items()}
            bar.target = bar.target or step
            bar.finish(logs)
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end()
        history.model = self
        return history

    def evaluate(self, *args, **kwargs):
        raise NotImplementedError("GAN.evaluate: a GAN has no held-out loss to report; judge its samples "
                                  "(gan.generate(n)) with a measure of your task")

    def summary(self, print_fn=None):
        for model in (self.generator, self.discriminator):
            if hasattr(model, "summary"):
                model.summary(print_fn)
            else:
                (print_fn or print)(repr(model))



__all__ = ["GAN", "frozen"]
