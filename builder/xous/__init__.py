"""Xous ``args.bin``: build it from ELFs and a LiteX memory map, decode any one back.

Modules, from data to I/O:

* :mod:`bootproof.builder.xous.layout`  the shared layout model (frozen dataclasses, JSON, table);
* :mod:`bootproof.builder.xous.regions` csr.csv / soc.svd / ``--ram`` -> main RAM and MREx regions;
* :mod:`bootproof.builder.xous.tags`    ELF -> kernel and MiniELF descriptions, tag body encoders;
* :mod:`bootproof.builder.xous.image`   place tags and payloads (aligned or legacy), stream the
  file;
* :mod:`bootproof.builder.xous.inspect` decode an args.bin, with the loader's checks as warnings;
* :mod:`bootproof.builder.xous.cli`     ``create-image`` and ``bootproof xous build|inspect``.
"""
