"""
Everything about the package is declared in setup.cfg.  This file exists
only for what setup.cfg cannot declare: the optional compiled DLE codec.
It is marked optional, so that without a C compiler (or without Python's
headers) the build only warns and the package installs with the
pure-Python codec of tcpbridge.dle, which is always there.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("tcpbridge._dle", ["tcpbridge/_dle.c"], optional=True)])
