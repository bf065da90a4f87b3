"""HuBao (互保): a chat bot that tracks risk reminders in mutual-guarantee work groups."""

__version__ = "0.1.0"
