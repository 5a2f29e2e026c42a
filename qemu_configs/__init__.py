"""Board files, their memory descriptions and the Xen Kconfig fragment (data only).

Installed as ``bootproof.qemu_configs``; found with
:func:`bootproof.harness.core.resources.package_dir`.
"""
