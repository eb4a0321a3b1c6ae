"""model.summary(): each layer's name, type, output shape and parameter count, then the totals."""


def _shape(layer):
    return str(layer.output_shape) if layer.output_shape is not None else "?"


def summary_lines(model, width=78):
    rows = [(f"{layer.name} ({type(layer).__name__})", _shape(layer), f"{layer.count_params():,}")
            for layer in model.layers]
    name_w = max([len("Layer (type)")] + [len(r[0]) for r in rows]) + 2
    shape_w = max([len("Output Shape")] + [len(r[1]) for r in rows]) + 2
    rule = "-" * max(width, name_w + shape_w + 12)
    lines = [f'Model: "{model.name}"', rule.replace("-", "="),
             f"{'Layer (type)':<{name_w}}{'Output Shape':<{shape_w}}{'Param #':>10}", rule.replace("-", "=")]
    for name, shape, params in rows:
        lines += [f"{name:<{name_w}}{shape:<{shape_w}}{params:>10}", rule]
    trainable = sum(w.size for w in model.trainable_weights)
    total = sum(w.size for w in model.weights)
    lines[-1] = rule.replace("-", "=")
    lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}", rule]
    return lines
