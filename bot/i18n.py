"""Every user-facing string, in English and Russian. Messages use Telegram HTML; the
renderer escapes every parameter before it is put in."""

from __future__ import annotations

import html
import string
from typing import Any

LANGUAGES = ("en", "ru")
DEFAULT_LANGUAGE = "en"


def language_for(code: str | None) -> str:
    """Telegram's language_code ('ru', 'ru-RU', 'en-US' ...) to a catalogue language."""
    if code and code.lower().split("-")[0] in LANGUAGES:
        return code.lower().split("-")[0]
    return DEFAULT_LANGUAGE


CATALOGUE: dict[str, dict[str, str]] = {
    # ---------------------------------------------------------------- user
    "start_new": {
        "en": "👋 Welcome to <b>ATRA</b>, your crypto trading assistant.\n\n"
        "You are subscribed: signals with entry, stop-loss and take-profit levels will arrive here. "
        "Confirm a signal with its button to open a position; mode: <b>{mode}</b>, "
        "starting balance {balance}.\n\n"
        "⚠️ Trading is risky. Signals are not financial advice; never risk money you cannot afford to lose.\n\n"
        "/help lists the commands.",
        "ru": "👋 Добро пожаловать в <b>ATRA</b> — ваш помощник в торговле криптовалютой.\n\n"
        "Вы подписаны: сюда будут приходить сигналы с точкой входа, стоп-лоссом и тейк-профитами. "
        "Подтвердите сигнал кнопкой, чтобы открыть позицию; режим: <b>{mode}</b>, "
        "стартовый баланс {balance}.\n\n"
        "⚠️ Торговля связана с риском. Сигналы — не финансовая рекомендация; не рискуйте деньгами, "
        "потерю которых не можете себе позволить.\n\n"
        "/help — список команд.",
    },
    "start_new_live": {
        "en": "👋 Welcome to <b>ATRA</b>, your crypto trading assistant.\n\n"
        "You are subscribed: signals with entry, stop-loss and take-profit levels will arrive here. "
        "Mode: <b>live</b> on {exchange}: a confirmed signal trades on your own {exchange} spot account, "
        "long only. Link it first with /connect (in this private chat).\n\n"
        "⚠️ Trading is risky. Signals are not financial advice; never risk money you cannot afford to lose.\n\n"
        "/help lists the commands.",
        "ru": "👋 Добро пожаловать в <b>ATRA</b> — ваш помощник в торговле криптовалютой.\n\n"
        "Вы подписаны: сюда будут приходить сигналы с точкой входа, стоп-лоссом и тейк-профитами. "
        "Режим: <b>реальная торговля</b> на {exchange}: подтверждённый сигнал исполняется на вашем спотовом "
        "аккаунте {exchange}, только лонг. Сначала привяжите его командой /connect (в этом личном чате).\n\n"
        "⚠️ Торговля связана с риском. Сигналы — не финансовая рекомендация; не рискуйте деньгами, "
        "потерю которых не можете себе позволить.\n\n"
        "/help — список команд.",
    },
    "start_back": {
        "en": "👋 Welcome back. You are subscribed to signals again. /help lists the commands.",
        "ru": "👋 С возвращением. Вы снова подписаны на сигналы. /help — список команд.",
    },
    "help_user": {
        "en": "<b>Commands</b>\n"
        "/start — subscribe to signals\n"
        "/signals — your active signals\n"
        "/positions — your open positions\n"
        "/history — your closed trades\n"
        "/stats — your results with the equity curve\n"
        "/settings — language and risk per trade\n"
        "/balance — your balance\n"
        "/dashboard — your dashboard (charts, positions, history)\n"
        "/connect, /disconnect — link or unlink your exchange account (live mode)\n"
        "/stop — unsubscribe\n"
        "/help — this list",
        "ru": "<b>Команды</b>\n"
        "/start — подписаться на сигналы\n"
        "/signals — ваши активные сигналы\n"
        "/positions — ваши открытые позиции\n"
        "/history — ваши закрытые сделки\n"
        "/stats — ваши результаты и кривая капитала\n"
        "/settings — язык и риск на сделку\n"
        "/balance — ваш баланс\n"
        "/dashboard — ваша панель (графики, позиции, история)\n"
        "/connect, /disconnect — привязать или отвязать аккаунт биржи (реальная торговля)\n"
        "/stop — отписаться\n"
        "/help — этот список",
    },
    "help_admin": {
        "en": "\n\n<b>Admin</b>\n"
        "/pause, /resume — stop or restart signals and confirmations\n"
        "/limits — risk limits; /setlimit NAME VALUE — change one\n"
        "/status — system state\n"
        "/scan — run the engine now\n"
        "/signal SYMBOL long|short sl=PRICE tp=PRICE[,PRICE] — publish a manual signal",
        "ru": "\n\n<b>Администратор</b>\n"
        "/pause, /resume — остановить или возобновить сигналы и подтверждения\n"
        "/limits — лимиты риска; /setlimit ИМЯ ЗНАЧЕНИЕ — изменить лимит\n"
        "/status — состояние системы\n"
        "/scan — запустить движок сейчас\n"
        "/signal СИМВОЛ long|short sl=ЦЕНА tp=ЦЕНА[,ЦЕНА] — опубликовать ручной сигнал",
    },
    "stopped": {
        "en": "🔕 You are unsubscribed: no more signals. Open positions are still managed. /start subscribes again.",
        "ru": "🔕 Вы отписались: сигналов больше не будет. Открытые позиции по-прежнему сопровождаются. "
        "/start — подписаться снова.",
    },
    "not_registered": {
        "en": "You are not registered yet: send /start first.",
        "ru": "Вы ещё не зарегистрированы: сначала отправьте /start.",
    },
    "signals_none": {
        "en": "No active signals right now.",
        "ru": "Сейчас нет активных сигналов.",
    },
    "signals_header": {"en": "<b>Your active signals</b>", "ru": "<b>Ваши активные сигналы</b>"},
    "signal_line": {
        "en": "#{id} {symbol} {side} · {state}\nEntry {entry} · SL {stop} · TP1 {tp1} · TP2 {tp2} · size {quantity}",
        "ru": "#{id} {symbol} {side} · {state}\nВход {entry} · SL {stop} · TP1 {tp1} · TP2 {tp2} · объём {quantity}",
    },
    "positions_none": {"en": "No open positions.", "ru": "Открытых позиций нет."},
    "positions_header": {"en": "<b>Open positions</b>", "ru": "<b>Открытые позиции</b>"},
    "position_line": {
        "en": "#{id} {symbol} {side} {quantity} @ {entry}\nStop {stop} · TP1 {tp1}{tp1_done} · TP2 {tp2}\n"
        "Price {price} · unrealised P&amp;L {pnl}",
        "ru": "#{id} {symbol} {side} {quantity} @ {entry}\nСтоп {stop} · TP1 {tp1}{tp1_done} · TP2 {tp2}\n"
        "Цена {price} · нереализованный P&amp;L {pnl}",
    },
    "tp1_done_mark": {"en": " ✅", "ru": " ✅"},
    "no_price": {"en": "n/a", "ru": "н/д"},
    "button_close": {"en": "✖️ Close {symbol} #{id}", "ru": "✖️ Закрыть {symbol} #{id}"},
    "button_close_sure": {"en": "⚠️ Close #{id} at market now", "ru": "⚠️ Закрыть #{id} по рынку сейчас"},
    "button_cancel": {"en": "↩️ Keep it", "ru": "↩️ Оставить"},
    "close_cancelled": {"en": "Kept open.", "ru": "Позиция оставлена открытой."},
    "close_done": {
        "en": "Closed {symbol} @ {price}, P&L {pnl}",
        "ru": "{symbol} закрыта @ {price}, P&L {pnl}",
    },
    "position_not_found": {
        "en": "This position is not yours or no longer exists.",
        "ru": "Эта позиция не ваша или больше не существует.",
    },
    "position_already_closed": {"en": "This position is already closed.", "ru": "Эта позиция уже закрыта."},
    "settings": {
        "en": "<b>Settings</b>\nLanguage: {language_name}\nRisk per trade: {risk}\nBalance: {balance}",
        "ru": "<b>Настройки</b>\nЯзык: {language_name}\nРиск на сделку: {risk}\nБаланс: {balance}",
    },
    "language_name": {"en": "English", "ru": "Русский"},
    "risk_default": {"en": "{risk}% (system default)", "ru": "{risk}% (по умолчанию)"},
    "risk_own": {"en": "{risk}% (your choice)", "ru": "{risk}% (ваш выбор)"},
    "button_risk_default": {"en": "Default", "ru": "По умолчанию"},
    "settings_saved": {"en": "Saved.", "ru": "Сохранено."},
    "risk_out_of_range": {
        "en": "Risk per trade must be above 0 and at most {cap}%.",
        "ru": "Риск на сделку должен быть больше 0 и не больше {cap}%.",
    },
    "unknown_command": {
        "en": "Unknown command. /help lists what I understand.",
        "ru": "Неизвестная команда. /help — список команд.",
    },
    "text_reply": {
        "en": "I work with commands and buttons. /help lists them.",
        "ru": "Я понимаю команды и кнопки. /help — список команд.",
    },
    "error_generic": {
        "en": "⚠️ Something went wrong on our side. Nothing was executed; please try again.",
        "ru": "⚠️ У нас что-то пошло не так. Ничего не исполнено; попробуйте ещё раз.",
    },
    # ------------------------------------------------------------- signals
    "side_long": {"en": "LONG", "ru": "ЛОНГ"},
    "side_short": {"en": "SHORT", "ru": "ШОРТ"},
    "state_pending": {"en": "awaiting confirmation", "ru": "ждёт подтверждения"},
    "state_confirmed": {"en": "confirmed", "ru": "подтверждён"},
    "state_executed": {"en": "executed", "ru": "исполнен"},
    "state_skipped": {"en": "skipped", "ru": "пропущен"},
    "state_expired": {"en": "expired", "ru": "истёк"},
    "state_rejected": {"en": "rejected", "ru": "отклонён"},
    "source_manual": {"en": " (manual)", "ru": " (ручной)"},
    "signal_message": {
        "en": "{icon} <b>{symbol} {side}</b>{source} · {timeframe}\n"
        "Entry: <b>{entry}</b>\n"
        "Stop-loss: {stop} ({stop_pct})\n"
        "TP1: {tp1}\n"
        "TP2: {tp2}\n"
        "Size: {quantity} (≈ {notional})\n"
        "Valid until {expires} UTC",
        "ru": "{icon} <b>{symbol} {side}</b>{source} · {timeframe}\n"
        "Вход: <b>{entry}</b>\n"
        "Стоп-лосс: {stop} ({stop_pct})\n"
        "TP1: {tp1}\n"
        "TP2: {tp2}\n"
        "Объём: {quantity} (≈ {notional})\n"
        "Действует до {expires} UTC",
    },
    "button_confirm": {"en": "✅ Confirm", "ru": "✅ Подтвердить"},
    "button_skip": {"en": "✖️ Skip", "ru": "✖️ Пропустить"},
    "filled": {
        "en": "✅ <b>Filled</b>: {side} {quantity} {symbol} @ {price} (fee {fee}).\n"
        "Stop {stop} · TP1 {tp1} · TP2 {tp2}",
        "ru": "✅ <b>Исполнено</b>: {side} {quantity} {symbol} @ {price} (комиссия {fee}).\n"
        "Стоп {stop} · TP1 {tp1} · TP2 {tp2}",
    },
    "skipped_mark": {"en": "✖️ Skipped.", "ru": "✖️ Пропущен."},
    "tp1_hit": {
        "en": "🎯 <b>{symbol}</b> TP1 reached: closed {quantity} @ {price}, P&amp;L {pnl}. "
        "Stop moved to {stop}; {remaining} still open.",
        "ru": "🎯 <b>{symbol}</b> достигнут TP1: закрыто {quantity} @ {price}, P&amp;L {pnl}. "
        "Стоп перенесён на {stop}; открыто ещё {remaining}.",
    },
    "stop_moved": {
        "en": "🔔 <b>{symbol}</b> stop moved {old} → {new}.",
        "ru": "🔔 <b>{symbol}</b> стоп перенесён {old} → {new}.",
    },
    "closed": {
        "en": "{icon} <b>{symbol} {side}</b> closed ({reason}) @ {price}.\n"
        "Entry {entry} · realised P&amp;L {pnl} ({pnl_pct}) · balance {balance}",
        "ru": "{icon} <b>{symbol} {side}</b> закрыта ({reason}) @ {price}.\n"
        "Вход {entry} · реализованный P&amp;L {pnl} ({pnl_pct}) · баланс {balance}",
    },
    "reason_stop_loss": {"en": "stop-loss", "ru": "стоп-лосс"},
    "reason_break_even": {"en": "break-even stop", "ru": "стоп в безубытке"},
    "reason_trailing_stop": {"en": "trailing stop", "ru": "трейлинг-стоп"},
    "reason_tp1": {"en": "TP1", "ru": "TP1"},
    "reason_tp2": {"en": "TP2", "ru": "TP2"},
    "reason_manual": {"en": "manual", "ru": "вручную"},
    "reason_end_of_data": {"en": "end of data", "ru": "конец данных"},
    "confirm_interrupted": {
        "en": "⚠️ Your confirmation of {symbol} was interrupted (a restart, or the exchange did not answer) "
        "before any order was placed. Nothing was executed.",
        "ru": "⚠️ Подтверждение сигнала {symbol} прервано (перезапуск или биржа не ответила) до отправки ордера. "
        "Ничего не исполнено.",
    },
    "entry_unconfirmed": {
        "en": "⏳ The exchange did not confirm the order in time. ATRA keeps checking and will tell you here "
        "whether it was filled; do not place it again by hand.",
        "ru": "⏳ Биржа не подтвердила ордер вовремя. ATRA продолжает проверять и сообщит здесь, исполнен ли он; "
        "не выставляйте его повторно вручную.",
    },
    # ------------------------------------------------------ confirm errors
    # ------------------------------------------------------------- live accounts
    "connect_usage": {
        "en": "Usage, in this private chat: /connect {exchange} API_KEY API_SECRET\n"
        "Create the key with spot trading enabled and withdrawals disabled (and restricted to the bot's IP "
        "if you can). The message with the key is deleted at once; the key is stored encrypted and never shown.",
        "ru": "Использование, в этом личном чате: /connect {exchange} API_KEY API_SECRET\n"
        "Создайте ключ с разрешённой спотовой торговлей и запрещённым выводом (и с ограничением по IP бота, "
        "если можете). Сообщение с ключом удаляется сразу; ключ хранится зашифрованным и никогда не показывается.",
    },
    "connect_private_only": {
        "en": "⚠️ Never post API keys in a group. I deleted the message if I could, but treat the key as leaked: "
        "revoke it on the exchange, then use /connect in a private chat with me.",
        "ru": "⚠️ Никогда не публикуйте API-ключи в группе. Я удалил сообщение, если смог, но считайте ключ "
        "скомпрометированным: отзовите его на бирже и используйте /connect в личном чате со мной.",
    },
    "connect_not_deleted": {
        "en": "⚠️ I could not delete your message with the key: please delete it yourself.",
        "ru": "⚠️ Не удалось удалить ваше сообщение с ключом: пожалуйста, удалите его сами.",
    },
    "connect_paper_mode": {
        "en": "ATRA runs in paper mode: there is no exchange account to link. /balance shows your virtual balance.",
        "ru": "ATRA работает в режиме бумажной торговли: привязывать аккаунт биржи не нужно. /balance покажет "
        "виртуальный баланс.",
    },
    "connect_wrong_exchange": {
        "en": "This bot trades on {exchange}: /connect {exchange} API_KEY API_SECRET",
        "ru": "Этот бот торгует на {exchange}: /connect {exchange} API_KEY API_SECRET",
    },
    "connect_rejected": {
        "en": "The exchange refused this API key (wrong key or secret, or no permission to read the account). "
        "Nothing was stored.",
        "ru": "Биржа отклонила этот API-ключ (неверный ключ или секрет, или нет права читать аккаунт). "
        "Ничего не сохранено.",
    },
    "connect_ok": {
        "en": "🔑 Your {exchange} account is linked. Your message was deleted; the key is stored encrypted and "
        "never shown.\n\n{balances}",
        "ru": "🔑 Ваш аккаунт {exchange} привязан. Ваше сообщение удалено; ключ хранится зашифрованным и "
        "никогда не показывается.\n\n{balances}",
    },
    "disconnect_ok": {
        "en": "🔌 Your exchange key is removed. Open positions: {open}. Their stop-loss and take-profit orders stay "
        "on the exchange, but ATRA no longer follows them until you /connect again.",
        "ru": "🔌 Ключ биржи удалён. Открытых позиций: {open}. Их стоп-лоссы и тейк-профиты остаются на бирже, "
        "но ATRA не сопровождает их, пока вы снова не выполните /connect.",
    },
    "not_connected": {
        "en": "No exchange account is linked. /connect links one.",
        "ru": "Аккаунт биржи не привязан. /connect привяжет его.",
    },
    "live_connect_first": {
        "en": "🔑 Live trading uses your own exchange account: link it first with "
        "/connect EXCHANGE API_KEY API_SECRET in a private chat with me. Nothing was executed.",
        "ru": "🔑 Реальная торговля идёт на вашем собственном аккаунте биржи: сначала привяжите его командой "
        "/connect БИРЖА API_KEY API_SECRET в личном чате со мной. Ничего не исполнено.",
    },
    "live_spot_long_only": {
        "en": "Live trading is spot only (nothing is borrowed), so a short signal cannot be executed. "
        "Nothing was executed.",
        "ru": "Реальная торговля идёт только на споте (без займов), поэтому шорт-сигнал исполнить нельзя. "
        "Ничего не исполнено.",
    },
    "balance_header": {"en": "<b>Balance</b> · {exchange}", "ru": "<b>Баланс</b> · {exchange}"},
    "balance_paper_header": {"en": "<b>Virtual balance</b> (paper)", "ru": "<b>Виртуальный баланс</b> (бумажная торговля)"},
    "balance_line": {
        "en": "{currency}: {free} free · {total} total",
        "ru": "{currency}: {free} свободно · {total} всего",
    },
    "balance_empty": {"en": "The account holds nothing.", "ru": "На аккаунте ничего нет."},
    # ------------------------------------------------------- live protection notices
    "protection_failed": {
        "en": "⚠️ <b>{symbol}</b> #{id}: the stop-loss and take-profit orders could not be placed on the exchange "
        "({reason}). The position is NOT protected; ATRA retries on every check. /positions can close it.",
        "ru": "⚠️ <b>{symbol}</b> #{id}: стоп-лосс и тейк-профит не удалось выставить на бирже ({reason}). "
        "Позиция НЕ защищена; ATRA повторяет попытку при каждой проверке. Закрыть её можно в /positions.",
    },
    "protection_failed_admin": {
        "en": "⚠️ Position #{id} of user {user} ({symbol}) is not protected on the exchange: {reason}",
        "ru": "⚠️ Позиция #{id} пользователя {user} ({symbol}) не защищена на бирже: {reason}",
    },
    "protection_restored": {
        "en": "🛡 <b>{symbol}</b> #{id}: stop-loss and take-profit rest on the exchange again.",
        "ru": "🛡 <b>{symbol}</b> #{id}: стоп-лосс и тейк-профит снова выставлены на бирже.",
    },
    "protection_restored_admin": {
        "en": "🛡 Position #{id} of user {user} ({symbol}) is protected on the exchange again.",
        "ru": "🛡 Позиция #{id} пользователя {user} ({symbol}) снова защищена на бирже.",
    },
    "protection_vanished": {
        "en": "⚠️ <b>{symbol}</b> #{id}: its protective orders disappeared from the exchange (cancelled outside "
        "ATRA?). They are being placed again.",
        "ru": "⚠️ <b>{symbol}</b> #{id}: защитные ордера исчезли с биржи (отменены вне ATRA?). Они выставляются "
        "заново.",
    },
    "protection_vanished_admin": {
        "en": "⚠️ Protective orders of position #{id} (user {user}, {symbol}) vanished from the exchange; "
        "placing them again.",
        "ru": "⚠️ Защитные ордера позиции #{id} (пользователь {user}, {symbol}) исчезли с биржи; выставляются "
        "заново.",
    },
    "stops_rejected": {
        "en": "⚠️ <b>{symbol}</b> #{id}: the exchange refused to move the stop to {stop}; it stays at {old}. "
        "ATRA tries again on the next check.",
        "ru": "⚠️ <b>{symbol}</b> #{id}: биржа не приняла перенос стопа на {stop}; он остаётся на {old}. "
        "ATRA попробует снова при следующей проверке.",
    },
    "live_partial_fill": {
        "en": "<b>{symbol}</b> #{id}: {quantity} filled @ {price} at the target; the rest stays protected.",
        "ru": "<b>{symbol}</b> #{id}: исполнено {quantity} @ {price} по цели; остаток по-прежнему защищён.",
    },
    "signal_not_found": {
        "en": "This signal is not yours or no longer exists.",
        "ru": "Этот сигнал не ваш или больше не существует.",
    },
    "signal_state_confirmed": {"en": "Already confirmed.", "ru": "Уже подтверждён."},
    "signal_state_executed": {"en": "Already executed.", "ru": "Уже исполнен."},
    "signal_state_skipped": {"en": "You skipped this signal.", "ru": "Вы пропустили этот сигнал."},
    "signal_state_expired": {"en": "This signal has expired.", "ru": "Срок действия сигнала истёк."},
    "signal_state_rejected": {"en": "This signal was rejected.", "ru": "Этот сигнал был отклонён."},
    "signal_state_pending": {"en": "This signal is still pending.", "ru": "Сигнал ещё ждёт подтверждения."},
    "trading_paused": {
        "en": "⏸ Trading is paused by the administrators. Nothing was executed.",
        "ru": "⏸ Торговля приостановлена администраторами. Ничего не исполнено.",
    },
    "price_moved": {
        "en": "Price has moved too far from the entry ({price} vs {entry}). Not executed.",
        "ru": "Цена слишком ушла от точки входа ({price} против {entry}). Не исполнено.",
    },
    "risk_max_open_positions": {
        "en": "Limit reached: at most {limit} open positions. Not executed.",
        "ru": "Достигнут лимит: не более {limit} открытых позиций. Не исполнено.",
    },
    "risk_already_open": {
        "en": "You already have an open {symbol} position. Not executed.",
        "ru": "У вас уже есть открытая позиция по {symbol}. Не исполнено.",
    },
    "risk_max_position_size": {
        "en": "This position would be {position_pct}% of your equity; the limit is {limit}%. Not executed.",
        "ru": "Позиция составила бы {position_pct}% капитала; лимит {limit}%. Не исполнено.",
    },
    "risk_max_total_risk": {
        "en": "Open risk would reach {total_risk_pct}% of equity; the limit is {limit}%. Not executed.",
        "ru": "Суммарный риск достиг бы {total_risk_pct}% капитала; лимит {limit}%. Не исполнено.",
    },
    "risk_max_correlation": {
        "en": "Too correlated with your open {symbol} position ({correlation} > {limit}). Not executed.",
        "ru": "Слишком сильная корреляция с открытой позицией {symbol} ({correlation} > {limit}). Не исполнено.",
    },
    "risk_max_drawdown": {
        "en": "⛔ New trades are halted: drawdown {drawdown_pct}% reached the {limit}% limit. The admins are told.",
        "ru": "⛔ Новые сделки остановлены: просадка {drawdown_pct}% достигла лимита {limit}%. Администраторы уведомлены.",
    },
    "risk_max_daily_loss": {
        "en": "⛔ New trades are halted for today: daily loss {daily_loss_pct}% reached the {limit}% limit. "
        "The admins are told.",
        "ru": "⛔ Новые сделки остановлены до конца дня: дневной убыток {daily_loss_pct}% достиг лимита {limit}%. "
        "Администраторы уведомлены.",
    },
    "risk_halt_admin": {
        "en": "⛔ Risk limit {reason} halted new trades of user {user} ({detail}).",
        "ru": "⛔ Лимит риска {reason} остановил новые сделки пользователя {user} ({detail}).",
    },
    "insufficient_funds": {
        "en": "Not enough free balance for this position. Not executed.",
        "ru": "Недостаточно свободного баланса для этой позиции. Не исполнено.",
    },
    "order_rejected": {
        "en": "The exchange rejected the order: {reason}",
        "ru": "Биржа отклонила ордер: {reason}",
    },
    "exchange_unavailable": {
        "en": "The exchange is not answering right now. Nothing was executed; try again shortly.",
        "ru": "Биржа сейчас не отвечает. Ничего не исполнено; попробуйте чуть позже.",
    },
    "button_stale": {
        "en": "This button is no longer valid.",
        "ru": "Эта кнопка больше не действует.",
    },
    # --------------------------------------------------------------- admin
    "admin_only": {
        "en": "⛔ This command is for administrators only.",
        "ru": "⛔ Эта команда только для администраторов.",
    },
    "paused_ok": {
        "en": "⏸ Paused: no signals are generated or sent, confirmations are refused.",
        "ru": "⏸ Пауза: сигналы не создаются и не отправляются, подтверждения отклоняются.",
    },
    "resumed_ok": {"en": "▶️ Resumed.", "ru": "▶️ Работа возобновлена."},
    "limits_header": {"en": "<b>Risk limits</b>", "ru": "<b>Лимиты риска</b>"},
    "setlimit_usage": {
        "en": "Usage: /setlimit NAME VALUE, e.g. /setlimit max_open_positions 5\nNames: {names}",
        "ru": "Использование: /setlimit ИМЯ ЗНАЧЕНИЕ, например /setlimit max_open_positions 5\nИмена: {names}",
    },
    "limit_unknown": {
        "en": "Unknown limit “{name}”. Known: {names}",
        "ru": "Неизвестный лимит «{name}». Допустимые: {names}",
    },
    "limit_not_number": {
        "en": "“{value}” is not a valid {kind} for {name}. Nothing changed.",
        "ru": "«{value}» — недопустимое значение ({kind}) для {name}. Ничего не изменено.",
    },
    "limit_out_of_range": {
        "en": "{name} must be {range}. Nothing changed.",
        "ru": "{name} должно быть {range}. Ничего не изменено.",
    },
    "limit_set_ok": {"en": "✅ {name} = {value}", "ru": "✅ {name} = {value}"},
    "kind_integer": {"en": "whole number", "ru": "целое число"},
    "kind_number": {"en": "number", "ru": "число"},
    "status": {
        "en": "<b>Status</b>\nMode: {mode} · market data: {market_data}\nTrading: {trading}\n"
        "Last scan: {last_scan}\nSymbols ({n_symbols}): {symbols}\nUsers: {users} registered, {subscribers} subscribed\n"
        "Open positions: {open_positions}\nOutbox: {outbox} waiting",
        "ru": "<b>Состояние</b>\nРежим: {mode} · данные: {market_data}\nТорговля: {trading}\n"
        "Последнее сканирование: {last_scan}\nСимволы ({n_symbols}): {symbols}\n"
        "Пользователи: {users} зарегистрировано, {subscribers} подписано\n"
        "Открытые позиции: {open_positions}\nОчередь сообщений: {outbox}",
    },
    "status_models": {"en": "<b>Models</b> (technical details)", "ru": "<b>Модели</b> (технические детали)"},
    "status_paused": {"en": "⏸ paused", "ru": "⏸ на паузе"},
    "status_running": {"en": "▶️ running", "ru": "▶️ работает"},
    "status_never": {"en": "never", "ru": "не было"},
    "last_scan": {
        "en": "{at} UTC · {signals} signal(s), {rejected} rejected, {errors} error(s)",
        "ru": "{at} UTC · сигналов: {signals}, отклонено: {rejected}, ошибок: {errors}",
    },
    "scan_paused": {"en": "⏸ Trading is paused: no scan.", "ru": "⏸ Торговля на паузе: сканирования нет."},
    "scan_busy": {"en": "A scan is already running.", "ru": "Сканирование уже идёт."},
    "scan_done": {
        "en": "🔎 Scanned {symbols} symbol(s): {signals} signal(s) published, {rejected} candidate(s) rejected{errors}.",
        "ru": "🔎 Просканировано символов: {symbols}; опубликовано сигналов: {signals}, "
        "отклонено кандидатов: {rejected}{errors}.",
    },
    "scan_errors": {"en": ", errors: {errors}", "ru": ", ошибки: {errors}"},
    "signal_usage": {
        "en": "Usage: /signal SYMBOL long|short sl=PRICE tp=PRICE[,PRICE]\ne.g. /signal BTC/USDT long sl=58000 tp=63000,66000",
        "ru": "Использование: /signal СИМВОЛ long|short sl=ЦЕНА tp=ЦЕНА[,ЦЕНА]\n"
        "например /signal BTC/USDT long sl=58000 tp=63000,66000",
    },
    "bad_side": {
        "en": "Side must be long or short, not “{value}”.",
        "ru": "Направление — long или short, а не «{value}».",
    },
    "bad_number": {"en": "“{value}” is not a valid price.", "ru": "«{value}» — недопустимая цена."},
    "too_many_targets": {"en": "At most two targets: tp=TP1,TP2.", "ru": "Не более двух целей: tp=TP1,TP2."},
    "unknown_symbol": {
        "en": "Unknown symbol “{symbol}”. Known: {symbols}",
        "ru": "Неизвестный символ «{symbol}». Доступные: {symbols}",
    },
    "sl_wrong_side": {
        "en": "The stop {stop} must be {where} the current price {price} for a {side}.",
        "ru": "Стоп {stop} должен быть {where} текущей цены {price} для позиции {side}.",
    },
    "tp_wrong_side": {
        "en": "The target {tp} must be {where} the current price {price} for a {side}.",
        "ru": "Цель {tp} должна быть {where} текущей цены {price} для позиции {side}.",
    },
    "below": {"en": "below", "ru": "ниже"},
    "above": {"en": "above", "ru": "выше"},
    "signal_published": {
        "en": "📣 {symbol} {side} published at {entry} to {users} subscriber(s).",
        "ru": "📣 {symbol} {side} опубликован по {entry} для подписчиков: {users}.",
    },
    # ------------------------------------------- delivery, pictures, observability
    "chart_entry": {"en": "Entry", "ru": "Вход"},
    "chart_stop": {"en": "SL", "ru": "SL"},
    "chart_tp1": {"en": "TP1", "ru": "TP1"},
    "chart_tp2": {"en": "TP2", "ru": "TP2"},
    "chart_equity": {"en": "Equity", "ru": "Капитал"},
    "chart_drawdown": {"en": "Drawdown, %", "ru": "Просадка, %"},
    "history_none": {"en": "No closed trades yet.", "ru": "Закрытых сделок пока нет."},
    "history_header": {
        "en": "<b>Closed trades</b> · page {page} of {pages} ({total} in all)",
        "ru": "<b>Закрытые сделки</b> · страница {page} из {pages} (всего {total})",
    },
    "history_line": {
        "en": "#{id} {symbol} {side} · {reason}\n{opened} → {closed} UTC · {entry} → {exit}\n"
        "P&amp;L <b>{pnl}</b> ({pnl_pct}), fees {fees}",
        "ru": "#{id} {symbol} {side} · {reason}\n{opened} → {closed} UTC · {entry} → {exit}\n"
        "P&amp;L <b>{pnl}</b> ({pnl_pct}), комиссии {fees}",
    },
    "button_newer": {"en": "◀️ Newer", "ru": "◀️ Новее"},
    "button_older": {"en": "Older ▶️", "ru": "Старше ▶️"},
    "stats_none": {
        "en": "No closed trades yet: statistics start with your first closed trade. Balance {balance}.",
        "ru": "Закрытых сделок пока нет: статистика появится после первой закрытой сделки. Баланс {balance}.",
    },
    "stats": {
        "en": "<b>Your results</b>\n"
        "Trades: {trades} · wins {win_rate}\n"
        "Realised P&amp;L: <b>{pnl}</b> (fees {fees} included)\n"
        "Equity: {equity} ({return_pct}) · open positions: {open}\n"
        "Average win {avg_win} · average loss {avg_loss}\n"
        "Profit factor {profit_factor} · expectancy {expectancy} per trade\n"
        "Max drawdown: {max_drawdown}",
        "ru": "<b>Ваши результаты</b>\n"
        "Сделок: {trades} · прибыльных {win_rate}\n"
        "Реализованный P&amp;L: <b>{pnl}</b> (с учётом комиссий {fees})\n"
        "Капитал: {equity} ({return_pct}) · открытых позиций: {open}\n"
        "Средняя прибыль {avg_win} · средний убыток {avg_loss}\n"
        "Профит-фактор {profit_factor} · матожидание {expectancy} на сделку\n"
        "Максимальная просадка: {max_drawdown}",
    },
    "alert_scan_failed": {
        "en": "⚠️ The engine's scan failed: {error}",
        "ru": "⚠️ Сканирование движка не удалось: {error}",
    },
    "alert_scan_errors": {
        "en": "⚠️ The engine's scan failed for {count} symbol(s): {symbols}",
        "ru": "⚠️ Сканирование не удалось для символов ({count}): {symbols}",
    },
    "alert_model_stale": {
        "en": "⚠️ Model {model} is stale: trained {age} days ago (limit {limit} days). Retrain it.",
        "ru": "⚠️ Модель {model} устарела: обучена {age} дн. назад (предел {limit} дн.). Переобучите её.",
    },
    "alert_delivery_backlog": {
        "en": "⚠️ Delivery is backed up: {depth} message(s) waiting, the oldest for {age}.",
        "ru": "⚠️ Доставка отстаёт: в очереди {depth} сообщ., самое старое ждёт {age}.",
    },
    "alert_delivery_recovered": {
        "en": "✅ Delivery has caught up: {depth} message(s) waiting.",
        "ru": "✅ Доставка догнала очередь: ждут {depth} сообщ.",
    },
    "status_health": {
        "en": "\n\n<b>Delivery</b>: {depth} waiting (oldest {oldest}), {in_flight} in flight; "
        "{rate}/s over the last minute; since start {sent} sent, {failed} dropped, {rate_limited} × 429, "
        "{in_doubt} re-sent after a stop\n"
        "<b>Signals</b>: {generated} generated; users: {accepted} executed, {skipped} skipped, "
        "{expired} expired, {rejected} rejected, {pending} pending\n"
        "<b>Engine</b>: last scan took {scan}; rejections since start: {rejections}\n"
        "<b>ML</b>: {ml}\n"
        "<b>Orders</b>: {orders}\n"
        "<b>Exchange limiter</b>: {limiter}",
        "ru": "\n\n<b>Доставка</b>: в очереди {depth} (самое старое {oldest}), отправляется {in_flight}; "
        "{rate}/с за последнюю минуту; с запуска отправлено {sent}, отброшено {failed}, 429: {rate_limited}, "
        "повторено после остановки {in_doubt}\n"
        "<b>Сигналы</b>: создано {generated}; у пользователей: исполнено {accepted}, пропущено {skipped}, "
        "истекло {expired}, отклонено {rejected}, ждут {pending}\n"
        "<b>Движок</b>: последнее сканирование {scan}; отказы с запуска: {rejections}\n"
        "<b>ML</b>: {ml}\n"
        "<b>Ордера</b>: {orders}\n"
        "<b>Лимитер биржи</b>: {limiter}",
    },
    "status_ml_model": {
        "en": "{model} {passed} passed, {rejected} rejected",
        "ru": "{model}: прошло {passed}, отклонено {rejected}",
    },
    "status_ml_age": {"en": " (age {days} d)", "ru": " (возраст {days} дн.)"},
    "status_limiter": {
        "en": "weight {weight}/{weight_limit}, orders {orders}/{orders_limit}, rate ×{factor}, paused {paused}s, 429s {limited}",
        "ru": "вес {weight}/{weight_limit}, ордера {orders}/{orders_limit}, темп ×{factor}, пауза {paused} с, 429: {limited}",
    },
    "status_nothing": {"en": "none", "ru": "нет"},
    # ----------------------------------------------------------- dashboard
    "dashboard_text": {
        "en": "📊 Your dashboard: equity, positions, signals and history at a glance.",
        "ru": "📊 Ваша панель: капитал, позиции, сигналы и история — всё на одном экране.",
    },
    "dashboard_button": {
        "en": "Open the dashboard",
        "ru": "Открыть панель",
    },
    "dashboard_off": {
        "en": "The dashboard is not enabled on this bot.",
        "ru": "Панель в этом боте не включена.",
    },
}


class _Params(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        raise KeyError(f"message parameter {key!r} missing")


def t(language: str, key: str, *, escape: bool = True, **params: Any) -> str:
    """The catalogue message `key` in `language`, with `params` HTML-escaped and put in."""
    entry = CATALOGUE[key]
    template = entry.get(language) or entry[DEFAULT_LANGUAGE]
    values = {k: html.escape(str(v), quote=False) if escape else v for k, v in params.items()}
    return template.format_map(_Params(values))


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}
