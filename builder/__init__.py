"""bootproof's builder: turns kernels, programs and configs into boot images.

The builder never imports :mod:`harness`; the harness imports the builder's layout
models to check a booted guest against them.
"""
