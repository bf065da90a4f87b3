"""The kernel: neutral events and messages, router, config, clock, catalogue, delivery.

Kernel modules import no other top-level package of HuBao; only the composition root
(`app.py`, `cli.py`) wires adapters, handlers, storage and scheduler together.
"""
