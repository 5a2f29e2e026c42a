"""Xous ``args.bin``: build it from ELFs and a LiteX memory map, decode any one back.

Modules, from data to I/O:

* :mod:`bootproof.builder.xous.layout`  the shared layout model (frozen dataclasses, JSON, table),
  its parts in :mod:`~bootproof.builder.xous.layout_parts` (tags, sections, programs, kernel)
  and :mod:`~bootproof.builder.xous.swap_space` (the Swap tag's address space);
* :mod:`bootproof.builder.xous.regions` csr.csv / soc.svd / ``--ram`` -> main RAM and MREx regions;
* :mod:`bootproof.builder.xous.tagblock` the tag header and block, the Tag base type, the
  draft of a layout the tags describe themselves into;
* :mod:`bootproof.builder.xous.tags`    one type per tag kind (XArg, MREx, Bflg, IniE, IniF,
  XKrn, PNam): encode, decode and describe together, and their registry; the program kinds
  in :mod:`~bootproof.builder.xous.program_tags`;
* :mod:`bootproof.builder.xous.programs` ELF -> kernel and MiniELF program descriptions;
* :mod:`bootproof.builder.xous.image`   place tags and payloads (aligned or legacy), stream the
  file;
* :mod:`bootproof.builder.xous.build`   ELFs -> args.bin, ``--map`` and the swap outputs, all
  written or none;
* :mod:`bootproof.builder.xous.inspect` decode an args.bin, with the loader's checks as warnings;
* :mod:`bootproof.builder.xous.cli`     ``create-image`` and ``bootproof xous build``, the group;
  ``inspect`` and ``read-tags`` in :mod:`~bootproof.builder.xous.inspect_cli`.
"""
