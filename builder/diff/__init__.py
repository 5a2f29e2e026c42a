"""``bootproof diff``: two layouts (layout JSON, args.bin, disk image or ImageBuilder config,
see :mod:`~bootproof.builder.diff.inputs`) compared with
:func:`bootproof.builder.layout.compare.compare` and shown as text, Markdown or JSON
(:mod:`~bootproof.builder.diff.render`); :mod:`~bootproof.builder.diff.cli` is the command.
"""
