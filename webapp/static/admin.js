// Admin (ADMIN_IDS only; the server checks every request): status, pause and resume,
// limits, users, outbox and exchange health.
import { act, get } from './api.js';
import { actionButton } from './actions.js';
import { figure, h, row, section } from './dom.js';
import { money, number, seconds, when } from './fmt.js';
import { t } from './i18n.js';

function statusSection(s, health, ctx) {
  const toggle = s.paused
    ? actionButton({ label: t('resume'), cls: 'primary resume', ctx, action: async () => (await act('api/admin/resume'), t('resumed')) })
    : actionButton({ label: t('pause'), sure: t('pause_sure'), cls: 'danger pause', ctx, action: async () => (await act('api/admin/pause'), t('paused')) });
  const last = s.last_scan
    ? t('last_scan_text', { at: when(s.last_scan.at), signals: s.last_scan.signals, rejected: s.last_scan.rejected, errors: s.last_scan.errors })
    : t('never');
  return section(
    t('status'),
    h(
      'div',
      { class: 'figures' },
      figure('trading', t('trading'), s.paused ? t('paused_state') : t('running_state'), s.paused ? 'paused' : 'running', s.paused ? 'loss' : 'gain'),
      figure('mode', t('mode'), `${s.mode} / ${s.market_data}`, s.mode),
      figure('users', t('users'), `${s.users} (${s.subscribers})`, s.users),
      figure('open_positions', t('open_positions'), String(s.open_positions), s.open_positions),
    ),
    h('div', { class: 'rows' }, row(t('last_scan'), last, 'last_scan', s.last_scan ? s.last_scan.at : ''), row(t('symbols'), s.symbols.join(', '), 'symbols', s.symbols.length)),
    h('div', { class: 'actions' }, toggle),
  );
}

function healthSection(health) {
  const f = health.figures;
  const rows = [
    row(t('outbox_depth'), String(f.outbox_depth), 'outbox_depth', f.outbox_depth),
    row(t('outbox_oldest'), seconds(f.outbox_oldest_seconds), 'outbox_oldest', f.outbox_oldest_seconds),
    row(t('in_flight'), String(f.outbox_in_flight), 'outbox_in_flight', f.outbox_in_flight),
    row(t('sent_failed'), `${health.sent} / ${health.failed}`, 'sent', health.sent),
    row(t('telegram_429'), String(health.rate_limited), 'rate_limited', health.rate_limited),
  ];
  if (f.exchange) {
    const x = f.exchange;
    rows.push(
      row(t('exchange_weight', { name: f.exchange_name }), `${number(x.used_weight, 0)} / ${number(x.weight_limit, 0)}`, 'exchange_weight', x.used_weight),
      row(t('exchange_rate'), `${number(x.rate_factor * 100, 0)}% · 429: ${x.rate_limited_count}`, 'exchange_rate', x.rate_factor),
    );
  } else {
    rows.push(row(t('exchange'), t('exchange_paper'), 'exchange', ''));
  }
  return section(t('health'), h('div', { class: 'rows' }, rows));
}

function limitsSection(limits, ctx) {
  return section(
    t('limits'),
    h(
      'div',
      { class: 'rows' },
      Object.entries(limits).map(([name, value]) => {
        const input = h('input', { name, value: String(value), inputmode: 'decimal', maxlength: 20 });
        const save = actionButton({
          label: t('save'), cls: 'save', ctx,
          action: async () => (await act('api/admin/limits', { name, value: input.value.trim() }), t('limit_saved', { name })),
        });
        return h('div', { class: 'row limit', 'data-field': name }, h('span', { class: 'label', text: name }), input, save);
      }),
    ),
  );
}

function usersSection(users) {
  return section(
    t('users'),
    h(
      'table',
      { class: 'list users' },
      h('tr', {}, ['ID', t('language'), t('subscribed'), t('balance'), t('open_positions')].map((c) => h('th', { text: c }))),
      users.map((u) =>
        h(
          'tr',
          { 'data-id': u.id },
          h('td', { text: String(u.id) }),
          h('td', { text: u.language }),
          h('td', { text: u.blocked ? t('blocked') : u.subscribed ? '✓' : '—' }),
          h('td', { text: money(u.balance) }),
          h('td', { text: String(u.open_positions) }),
        ),
      ),
    ),
  );
}

export async function admin(ctx) {
  const data = await get('api/admin/overview');
  return [statusSection(data.status, data.health, ctx), healthSection(data.health), limitsSection(data.limits, ctx), usersSection(data.users)];
}
