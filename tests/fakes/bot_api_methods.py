"""The Bot API methods the fake server answers (tests/fakes/bot_api.py), as a mixin over its state:
messages sent, edited and deleted, updates, commands, callback answers, menu buttons."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
from collections import defaultdict
from functools import partialmethod
from typing import Any

from tests.fakes.bot_api_wire import (
    NOT_MODIFIED,
    QUERY_TOO_OLD,
    ApiError,
    Upload,
    bad,
    check_markup,
    check_web_app,
    parse_text,
    utf16_len,
)


class BotApiMethods:
    """The ``_api_<method>`` handlers and the message store they share."""

    bot_user: dict[str, Any]
    files: dict[str, bytes]
    answers: dict[str, dict[str, Any]]
    commands: dict[tuple[str, str], list[dict[str, Any]]]
    menu_buttons: dict[Any, dict[str, Any]]
    incoming: defaultdict[Any, dict[int, dict[str, Any]]]
    deleted_incoming: list[tuple[Any, int]]
    _ids: Any
    _next_msg_id: defaultdict[Any, int]
    _store: defaultdict[Any, dict[int, dict[str, Any]]]
    _users: dict[int, dict[str, Any]]
    _callbacks: dict[str, bool]
    _updates: list[dict[str, Any]]
    _webhook_url: str
    _event: asyncio.Event
    _closing: bool

    def _user(self, user_id: int, first_name: str | None = None, username: str | None = None,
              language_code: str | None = None) -> dict[str, Any]:
        user = self._users.setdefault(user_id, {"id": user_id, "is_bot": False,
                                                "first_name": f"User{user_id}"})
        given = {"first_name": first_name, "username": username, "language_code": language_code}
        user.update({key: value for key, value in given.items() if value is not None})
        return dict(user)

    # ------------------------------------------------------------------ injection
    def inject_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update (``update_id`` is assigned unless it has one: Telegram sending
        an update again); returns the update id."""
        update = {**update, "update_id": update.get("update_id") or next(self._ids)}
        self._updates.append(update)
        self._event.set()
        return update["update_id"]

    def inject_message(self, user_id: int, text: str, language_code: str = "en",
                       first_name: str | None = None, username: str | None = None) -> int:
        """Queue a private-chat text message from a user; returns the update id.

        A text starting with "/" gets a ``bot_command`` entity over its first word
        (``/cmd`` or ``/cmd@botname``).
        """
        user = self._user(user_id, first_name, username, language_code)
        self._next_msg_id[user_id] += 1
        message = {"message_id": self._next_msg_id[user_id], "from": user,
                   "chat": self._chat(user_id), "date": int(time.time()), "text": text}
        if text.startswith("/"):
            length = utf16_len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        self.incoming[user_id][message["message_id"]] = message
        return self.inject_update({"message": message})

    def inject_group_message(self, user_id: int, group_id: int, text: str) -> int:
        """Queue a text message from a user in a group chat (``group_id`` < 0)."""
        self._next_msg_id[group_id] += 1
        message = {"message_id": self._next_msg_id[group_id], "from": self._user(user_id),
                   "chat": {"id": group_id, "type": "group", "title": f"Group{group_id}"},
                   "date": int(time.time()), "text": text}
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(text.split()[0])}]
        self.incoming[group_id][message["message_id"]] = message
        return self.inject_update({"message": message})

    def inject_callback(self, user_id: int, data: str, message_id: int | None = None,
                        chat_id: int | None = None, strict: bool = True) -> str:
        """Queue a button press; returns the callback query id.

        Its ``message`` is the bot's stored message ``message_id`` in ``chat_id`` (default: the
        user's chat), or the bot's latest message there if ``message_id`` is None. With
        ``strict``, ``data`` must be the callback_data of a button of that message.
        """
        chat_id = user_id if chat_id is None else chat_id
        stored = self._store.get(chat_id, {})
        message_id = max(stored, default=None) if message_id is None else message_id
        query: dict[str, Any] = {"id": str(4_382_000_000_000_000_000 + next(self._ids)),
                                 "from": self._user(user_id), "chat_instance": f"-{chat_id}",
                                 "data": data}
        if message_id is not None:
            if message_id not in stored:
                raise KeyError(f"the bot sent no message {message_id} to chat {chat_id}")
            query["message"] = copy.deepcopy(stored[message_id])
            rows = query["message"].get("reply_markup", {}).get("inline_keyboard", [])
            if strict and data not in [button.get("callback_data") for r in rows for button in r]:
                raise ValueError(f"no button with callback_data {data!r} in message {message_id}")
        self._callbacks[query["id"]] = False
        self.inject_update({"callback_query": query})
        return query["id"]

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        if not isinstance(chat_id, int):
            raise bad("chat not found")
        if chat_id <= -1_000_000_000_000:  # a channel the bot posts in (-100...)
            return {"id": chat_id, "type": "channel", "title": f"Channel{chat_id}"}
        user = self._users.get(chat_id, {"first_name": f"User{chat_id}"})
        return {"id": chat_id, "type": "private", "first_name": user["first_name"]} | (
            {"username": user["username"]} if "username" in user else {})

    def _new_message(self, params: dict[str, Any], **fields: Any) -> dict[str, Any]:
        chat_id: Any = params.get("chat_id")
        if chat_id in (None, ""):
            raise bad("chat_id is empty")
        chat = self._chat(chat_id)
        self._next_msg_id[chat_id] += 1
        message_id = self._next_msg_id[chat_id]
        message = {"message_id": message_id, "from": dict(self.bot_user), "chat": chat,
                   "date": int(time.time())}
        message.update({key: value for key, value in fields.items() if value})
        self._store[chat_id][message_id] = message
        return copy.deepcopy(message)

    def _target(self, params: dict[str, Any], action: str = "edit") -> dict[str, Any]:
        if "message_id" not in params:
            raise bad("message identifier is not specified")
        found = self._store.get(params.get("chat_id"), {}).get(params["message_id"])
        if found is None:
            raise bad(f"message to {action} not found")
        return found

    def _edit(self, params: dict[str, Any], kind: str | None) -> dict[str, Any]:
        """editMessageText/Caption (``kind`` "text"/"caption") or ReplyMarkup (None)."""
        message = self._target(params)
        new: dict[str, Any] = {"reply_markup": check_markup(params.get("reply_markup"))}
        if kind == "text" and "text" not in message:
            raise bad("there is no text in the message to edit")
        if kind == "caption" and "photo" not in message:
            raise bad("there is no caption in the message to edit")
        if kind:
            value, entities = parse_text(params, kind, 4096 if kind == "text" else 1024)
            new |= {kind: value, "entities" if kind == "text" else "caption_entities": entities}
        if all((message.get(key) or None) == (value or None) for key, value in new.items()):
            raise bad(NOT_MODIFIED.removeprefix("Bad Request: "))
        for key, value in new.items():
            if value:
                message[key] = value
            else:
                message.pop(key, None)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    # ---------------------------------------------------------------- methods
    def _api_getMe(self, params: dict[str, Any]) -> Any:
        return dict(self.bot_user)

    async def _api_getUpdates(self, params: dict[str, Any]) -> Any:
        if self._webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        if offset:  # confirms every update before ``offset``; negative: keep the last -offset
            self._updates = (self._updates[offset:] if offset < 0 else
                             [u for u in self._updates if u["update_id"] >= offset])
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        deadline = asyncio.get_running_loop().time() + max(float(params.get("timeout") or 0), 0)
        while not self._updates and not self._closing:
            self._event.clear()
            try:
                async with asyncio.timeout_at(deadline):
                    await self._event.wait()
            except TimeoutError:
                break
        return copy.deepcopy(self._updates[:limit])

    def _api_deleteWebhook(self, params: dict[str, Any]) -> Any:
        self._webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _api_setWebhook(self, params: dict[str, Any]) -> Any:
        self._webhook_url = str(params.get("url") or "")
        return True

    def _api_getWebhookInfo(self, params: dict[str, Any]) -> Any:
        return {"url": self._webhook_url, "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _api_setMyCommands(self, params: dict[str, Any]) -> Any:
        commands: Any = params.get("commands")
        for command in commands if isinstance(commands, list) else [None]:
            name = str(command.get("command", "")) if isinstance(command, dict) else ""
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise bad("BOT_COMMAND_INVALID")
        self.commands[self._commands_key(params)] = commands
        return True

    def _api_getMyCommands(self, params: dict[str, Any]) -> Any:
        return self.commands.get(self._commands_key(params), [])

    def _api_deleteMyCommands(self, params: dict[str, Any]) -> Any:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        text, entities = parse_text(params, "text", 4096)
        markup = check_markup(params.get("reply_markup"))
        return self._new_message(params, text=text, entities=entities, reply_markup=markup)

    def _api_sendPhoto(self, params: dict[str, Any]) -> Any:
        photo = params.get("photo")
        caption, entities = parse_text(params, "caption", 1024)
        markup = check_markup(params.get("reply_markup"))
        if isinstance(photo, Upload):
            file_id = f"AgACAgIAAxkBAAI{next(self._ids):06d}FakePhoto"
            self.files[file_id] = photo.content
        elif isinstance(photo, str) and (photo in self.files or photo.startswith("http")):
            file_id = photo
        else:
            raise bad("wrong file identifier/HTTP URL specified" if photo
                       else "there is no photo in the request")
        size = {"file_id": file_id, "file_unique_id": f"AQAD{file_id[-16:]}", "width": 320,
                "height": 320, "file_size": len(self.files.get(file_id, b""))}
        return self._new_message(params, photo=[size], caption=caption,
                                 caption_entities=entities, reply_markup=markup)

    _api_editMessageText = partialmethod(_edit, kind="text")
    _api_editMessageCaption = partialmethod(_edit, kind="caption")
    _api_editMessageReplyMarkup = partialmethod(_edit, kind=None)

    def _api_deleteMessage(self, params: dict[str, Any]) -> Any:
        chat_id, message_id = params.get("chat_id"), params.get("message_id")
        if message_id in self.incoming.get(chat_id, {}):  # bots may delete what users sent them
            del self.incoming[chat_id][message_id]
            self.deleted_incoming.append((chat_id, message_id))
            return True
        message = self._target(params, "delete")
        del self._store[message["chat"]["id"]][message["message_id"]]
        return True

    def _api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        query_id = str(params.get("callback_query_id", ""))
        if self._callbacks.get(query_id, True):  # unknown or already answered
            raise bad(QUERY_TOO_OLD.removeprefix("Bad Request: "))
        if len(str(params.get("text") or "")) > 200:
            raise bad("MESSAGE_TOO_LONG")
        self._callbacks[query_id] = True
        self.answers[query_id] = params
        return True

    def _api_setChatMenuButton(self, params: dict[str, Any]) -> Any:
        button = params.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in ("default", "commands", "web_app"):
            raise bad("can't parse menu button JSON object")
        if button["type"] == "web_app":
            if not str(button.get("text") or "").strip():
                raise bad("menu button text is empty")
            check_web_app(button.get("web_app"))
        self.menu_buttons[params.get("chat_id")] = button
        return True

    def _api_getChatMenuButton(self, params: dict[str, Any]) -> Any:
        return self.menu_buttons.get(params.get("chat_id"), {"type": "default"})

    def _api_getChat(self, params: dict[str, Any]) -> Any:
        gifts = dict.fromkeys(("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription",
                               "gifts_from_channels"), True)  # fields PTB 22.8 requires in ChatFullInfo
        return self._chat(params.get("chat_id")) | {"accent_color_id": 0, "max_reaction_count": 11,
                                                     "accepted_gift_types": gifts}
