"""The Telegram Mini App dashboard: a static page and a JSON API over the bot's services,
served by the bot process (webapp/server.py), signed in by Telegram (webapp/auth.py)."""
