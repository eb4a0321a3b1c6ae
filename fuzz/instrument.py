"""Atheris coverage for modules already imported, by name prefix.

`atheris.instrument_imports` misses modules that an import hook loads (an editable install of ember is one), so the
harnesses import normally and then patch every function of the modules they care about; functions nested inside
them are patched with their parent's code.
"""
import gc
import types


def instrument_modules(atheris, prefixes):
    """Instrument every Python function whose module name starts with one of `prefixes`; returns how many."""
    prefixes = tuple(prefixes)
    functions = [obj for obj in gc.get_objects()
                 if isinstance(obj, types.FunctionType) and (obj.__module__ or "").startswith(prefixes)]
    for function in functions:
        atheris.instrument_func(function)
    return len(functions)
