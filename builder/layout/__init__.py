"""The layout model's home: plain data and pure functions, no I/O beyond the package's own
schema file.

* :mod:`~bootproof.builder.layout.ranges` address arithmetic: :class:`AddressRange`,
  :class:`NamedRange`, :func:`align_up`;
* :mod:`~bootproof.builder.layout.model` the one layout model every builder produces and
  the harness parses booted guests into (:class:`Layout`, :class:`Space`, :class:`Item`),
  and its versioned JSON (schema ``layout-v1.schema.json`` beside it);
* :mod:`~bootproof.builder.layout.compare` the one comparison of two layouts (guest check
  and ``bootproof diff``) and the ``--fail-on`` rules;
* :mod:`~bootproof.builder.layout.svg` the memory-map picture of a layout (``--svg``), its
  column geometry in :mod:`~bootproof.builder.layout.columns`, and the picture of a diff
  in :mod:`~bootproof.builder.layout.svg_diff`.

Byte formats (``builder.formats``) may use it as freely as the planners do; it imports
neither.
"""

from bootproof.builder.layout.ranges import AddressRange, NamedRange, align_up

__all__ = ["AddressRange", "NamedRange", "align_up"]
