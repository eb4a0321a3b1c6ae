"""Export rules by layer class: `@rule(Dense)` registers `fn(g, layer, x, data, out, **kwargs) -> Value | [Value]`.

`g` is the GraphBuilder, `x` the input Value (a list for merge layers), `data` and `out` ember's own input and
output of the layer on a stand-in batch (their shapes are the tensors'; a rule may read them), `kwargs` the Values
passed by keyword (`initial_state`).
"""
RULES = {}


def rule(*classes):
    def register(fn):
        for cls in classes:
            RULES[cls] = fn
        return fn
    return register


def find_rule(layer):
    """The rule for `layer`'s class or the nearest base that has one, unless a subclass computes differently: a
    class that overrides `call` is not the layer the rule describes."""
    for cls in type(layer).__mro__:
        if cls in RULES:
            return RULES[cls] if type(layer).call is cls.call else None
    return None


def exportable_classes():
    return sorted({cls.__name__ for cls in RULES})
