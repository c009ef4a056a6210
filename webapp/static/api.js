// Calls to the dashboard's API: every one signed with Telegram's initData; every change
// with a one-time nonce from the server (a copied request is refused the second time).
import { initData } from './tg.js';

export class ApiError extends Error {
  constructor(status, body) {
    super(typeof body === 'object' && body ? body.message || body.error : String(body));
    this.status = status;
    this.body = typeof body === 'object' && body ? body : { error: 'http_' + status };
  }
}

async function call(method, path, body, nonce) {
  const headers = { Authorization: 'tma ' + initData() };
  if (nonce) headers['X-Nonce'] = nonce;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  const type = response.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export function get(path) {
  return call('GET', path);
}

/** A change: fetch a nonce, then send it with the request. */
export async function act(path, body) {
  const { nonce } = await call('GET', 'api/nonce');
  return call('POST', path, body, nonce);
}

/** Fetch a file with the signature and hand it to the browser as a download. */
export async function download(path, filename) {
  const response = await fetch(path, { headers: { Authorization: 'tma ' + initData() }, cache: 'no-store' });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
