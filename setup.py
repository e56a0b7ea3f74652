"""The optional compiled helpers of synapse_core.data (everything else is in pyproject.toml).

``optional=True``: where no C compiler is found the install goes on without them, and the
package runs the same Python code, slower (see synapse_core/data/compiled.py)."""

from glob import glob

from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "synapse_core.data._speedups", sorted(glob("synapse_core/data/csrc/*.c")),
    depends=sorted(glob("synapse_core/data/csrc/*.h")), optional=True,
    extra_compile_args=["-O2"])])
