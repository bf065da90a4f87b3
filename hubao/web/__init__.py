"""The web side of HuBao: a read-only board, risk pages, heat map, trends, points and an
organisation view, opened from signed links the bot gives in the chat (see docs/web.md)."""
