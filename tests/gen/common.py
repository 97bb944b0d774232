"""Small helpers shared by the fixture scripts that must not pull in torch / diffusers
(make_train_data.py needs only numpy, pillow and pycocotools; crosscheck_official.py
imports no other script). The torch-side shared helpers (deterministic safetensors
writer, configs, reference tokenizer) live in make_fixtures.py."""
import importlib.machinery
import importlib.util
import os
import sys
import types


def tree_files(top):
    """Every file below `top`, folders in sorted order and the files of each folder sorted."""
    for dirpath, _, files in sorted(os.walk(top)):
        for f in sorted(files):
            yield os.path.join(dirpath, f)


def stub_missing(names):
    """Empty stand-in modules for those of `names` (dotted, parents first) whose top-level
    package is not installed: the official EZIGen package imports them, the code paths used
    here never touch them. Returns the sorted top-level names that were stubbed."""
    def installed(top):
        try:
            return importlib.util.find_spec(top) is not None
        except (ImportError, ValueError):
            return False

    missing = {n.split(".")[0] for n in names if not installed(n.split(".")[0])}
    for name in names:
        parts = name.split(".")
        if parts[0] not in missing:
            continue
        for i in range(1, len(parts) + 1):
            mod_name = ".".join(parts[:i])
            if mod_name not in sys.modules:
                m = types.ModuleType(mod_name)
                m.__spec__ = importlib.machinery.ModuleSpec(mod_name, None, is_package=True)
                m.__path__ = []
                m.__getattr__ = lambda attr, _n=mod_name: (_ for _ in ()).throw(
                    AttributeError(f"stub module {_n} has no {attr}")) if attr.startswith("__") else object
                sys.modules[mod_name] = m
    return sorted(missing)
