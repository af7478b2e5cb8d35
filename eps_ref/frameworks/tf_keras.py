"""The ``tf_keras`` dialect: legacy Keras 2 from the ``tf-keras`` package."""

VERSION = "2.21.0"
