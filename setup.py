"""Build configuration for dynajit's C extensions: the PEP 523 frame hook and the kernel
launcher of the LLVM backend. Everything else about the project lives in pyproject.toml."""

import sys

from setuptools import Extension, setup

ext_modules = []
# The hook reads CPython's internal frame layout, which exists in this form only on 3.11 and
# 3.12; elsewhere dynajit._hook imports without it and reports AVAILABLE = False.
if sys.implementation.name == "cpython" and sys.version_info[:2] in ((3, 11), (3, 12)):
    ext_modules.append(
        Extension(
            "dynajit._hook._evalframe",
            sources=["dynajit/_hook/_evalframe.c"],
            extra_compile_args=["-Wall", "-Wno-missing-field-initializers"],
        )
    )

# The launcher uses only the stable parts of CPython's API and pthreads.
ext_modules.append(
    Extension(
        "dynajit.backends.llvm._launch",
        sources=["dynajit/backends/llvm/_launch.c"],
        extra_compile_args=["-Wall", "-O2"],
    )
)

setup(ext_modules=ext_modules)
