"""Keras-style layers, one public layer per file (grouped where a family shares a base)."""
from .base import Layer
from .attention import AdditiveAttention, Attention, MultiHeadAttention
from .activation_layers import ELU, LeakyReLU, ReLU, Softmax
from .convolutional import Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D
from .core import Activation, Dense, Dropout, Flatten, Reshape
from .merging import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .normalization import BatchNormalization
from .pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling2D, GlobalAvgPool2D, GlobalMaxPool2D,
                      GlobalMaxPooling2D, MaxPool2D, MaxPooling2D)
from .reshaping import UpSampling2D, ZeroPadding2D
from .augmentation import GaussianNoise, RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom
from .embedding import Embedding, Masking
from .recurrent import GRU, GRUCell, LSTM, LSTMCell, RNN, SimpleRNN, SimpleRNNCell
from .wrappers import Bidirectional, TimeDistributed

Convolution2D, Convolution2DTranspose, SeparableConvolution2D = Conv2D, Conv2DTranspose, SeparableConv2D
