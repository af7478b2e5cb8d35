"""Framework dialects: one module per framework, each a table of specs.

A dialect module imports no framework. It registers one :class:`eps_ref.spec.Spec` per
framework optimizer: the qualified name, the framework's keywords with their exact defaults,
the rule, and ``bind``, which maps those keywords to the rule's keywords.
"""

from eps_ref.frameworks import (  # noqa: F401  (registration)
    flax, keras, keras_schedules, optax, optax_schedules, paper, paper_schedules, tf1,
    tf_keras, tf_schedules, torch, torch_schedules)
