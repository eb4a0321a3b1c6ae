"""BatchNormalization (Keras semantics and weight order: gamma, beta, moving_mean, moving_variance)."""
from .. import initializers, ops, regularizers
from .base import Layer, invalid_argument


class BatchNormalization(Layer):
    """Normalizes over every axis but `axis`. Training (training=True on a trainable layer) uses the batch's
    statistics and updates moving = moving * momentum + batch * (1 - momentum); otherwise the moving statistics
    are used. A frozen layer (trainable=False) always runs in inference mode, as in Keras 3 (fine-tuning)."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise invalid_argument("axis", "an int", axis)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise invalid_argument("momentum", "a float in [0, 1]", momentum)
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon <= 0:
            raise invalid_argument("epsilon", "a strictly positive value", epsilon)
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def build(self, input_shape):
        ndim = len(input_shape)
        if not -ndim <= self.axis < ndim:
            raise ValueError(f"Layer {self.name!r}: axis {self.axis} is out of range for an input of shape "
                             f"{tuple(input_shape)}")
        shape = (input_shape[self.axis],)
        self.gamma = (self.add_weight("gamma", shape, self.gamma_initializer, regularizer=self.gamma_regularizer)
                      if self.scale else None)
        self.beta = (self.add_weight("beta", shape, self.beta_initializer, regularizer=self.beta_regularizer)
                     if self.center else None)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape, self.moving_variance_initializer,
                                               trainable=False)

    def call(self, inputs, training=None):
        return ops.batch_norm(inputs, self.moving_mean, self.moving_variance, self.gamma, self.beta,
                              training=bool(training) and self.trainable, momentum=self.momentum,
                              epsilon=self.epsilon, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer)}
