"""The bundled examples (data only): ``xen/``, a dom0 + 2 domU ImageBuilder config.

Installed as ``bootproof.examples``; found with
:func:`bootproof.harness.core.resources.package_dir`.
"""
