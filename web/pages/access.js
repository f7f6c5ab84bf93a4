// Credentials, sessions, API keys and the audit logs: what a tenant hands
// its jails and what was done with it. Secrets go in and never come back.

import { api, scoped } from '../api.js';
import { html, useState, usePoll, useApi, useError, ErrorBox, Action, Badge, Empty, Select, when } from '../ui.js';

function useServices() {
  const [services, setServices] = useState([]);
  usePoll(async () => {
    try {
      const config = await api('GET', '/v1/config');
      setServices(config.proxy.providers.map((p) => p.service_id));
    } catch { /* the form still takes a typed name */ }
  }, 0);
  return services;
}

export function Credentials() {
  const services = useServices();
  const [error, report] = useError();
  const [service, setService] = useState('');
  const [secret, setSecret] = useState('');
  const [rows, load] = useApi(scoped('/v1/credentials'), { report });
  const put = async (name, value) => {
    await api('POST', scoped('/v1/credentials'), { body: { service: name, secret: value } });
    setSecret('');
    report(null);
    await load();
  };
  return html`<h1>Credentials</h1>
    <p class="muted">Upstream secrets are stored encrypted and never shown again. Jails get phantom tokens that the proxy swaps for them.</p>
    <${ErrorBox} error=${error} onClose=${() => report(null)} />
    <form class="row" onSubmit=${(e) => e.preventDefault()} autocomplete="off">
      <label>service <input list="services" value=${service} onInput=${(e) => setService(e.target.value)} required data-testid="credential-service" />
        <datalist id="services">${services.map((s) => html`<option value=${s} />`)}</datalist></label>
      <label>secret <input type="password" value=${secret} onInput=${(e) => setSecret(e.target.value)} required data-testid="credential-secret" /></label>
      <${Action} kind="primary" run=${() => put(service, secret)} onError=${report} busyLabel="Saving…" testid="credential-save">Store</${Action}>
    </form>
    ${rows && (rows.length ? html`<table class="grid"><thead><tr><th>service</th><th>fingerprint</th><th>added</th><th>updated</th><th></th></tr></thead>
      <tbody>${rows.map((c) => html`<tr key=${c.service} data-testid=${`credential-${c.service}`}><td>${c.service}</td><td><code>${c.fingerprint}</code></td><td>${when(c.added_at)}</td><td>${when(c.updated_at)}</td>
        <td class="actions">
          <button onClick=${() => { setService(c.service); setSecret(''); document.querySelector('[data-testid=credential-secret]').focus(); }}
            title="Type the new secret in the form above">Rotate</button>
          <${Action} kind="danger" confirm=${`Delete the ${c.service} credential? Sessions using it stop working.`}
            run=${async () => { await api('DELETE', scoped(`/v1/credentials/${encodeURIComponent(c.service)}`)); await load(); }} onError=${report}>Delete</${Action}>
        </td></tr>`)}</tbody></table>`
      : html`<${Empty}>No credentials yet. Store one above (for example <code>openai</code>) and sessions can hand jails a phantom token for it.</${Empty}>`)}`;
}

export function Sessions() {
  const services = useServices();
  const [chosen, setChosen] = useState([]);
  const [ttl, setTtl] = useState(3600);
  const [created, setCreated] = useState(null);
  const [error, report] = useError();
  const [rows, load] = useApi(scoped('/v1/sessions'), { report });
  const toggle = (s) => setChosen(chosen.includes(s) ? chosen.filter((x) => x !== s) : [...chosen, s]);
  return html`<h1>Sessions</h1>
    <p class="muted">A session holds phantom tokens for a set of services; commands run with it reach those services through the proxy.</p>
    <${ErrorBox} error=${error} onClose=${() => report(null)} />
    <form class="row" onSubmit=${(e) => e.preventDefault()}>
      ${services.map((s) => html`<label class="check"><input type="checkbox" checked=${chosen.includes(s)} onChange=${() => toggle(s)} /> ${s}</label>`)}
      <label>lifetime (s) <input type="number" min="1" value=${ttl} onInput=${(e) => setTtl(e.target.value)} /></label>
      <${Action} kind="primary" run=${async () => {
        setCreated(await api('POST', scoped('/v1/sessions'), { body: { services: chosen, ttl_secs: Number(ttl) } }));
        report(null); await load();
      }} onError=${report} busyLabel="Opening…">Open session</${Action}>
    </form>
    ${created && html`<div class="notice">Session <b>${created.id}</b> opened. Its environment (phantom tokens, usable only through this server's proxy):
      <pre class="json">${Object.entries(created.env || {}).map(([k, v]) => `${k}=${v}`).join('\n')}</pre></div>`}
    ${rows && (rows.length ? html`<table class="grid"><thead><tr><th>id</th><th>services</th><th>status</th><th>requests</th><th>expires</th><th></th></tr></thead>
      <tbody>${rows.map((s) => html`<tr key=${s.id}><td><code>${s.id}</code></td><td>${s.services.join(', ')}</td><td><${Badge} value=${s.status} /></td>
        <td>${s.requests_used}</td><td>${when(s.expires_at)}</td>
        <td class="actions"><${Action} kind="danger" run=${async () => { await api('DELETE', `/v1/sessions/${encodeURIComponent(s.id)}`); await load(); }} onError=${report}>Close</${Action}></td></tr>`)}</tbody></table>`
      : html`<${Empty}>No open sessions. Store a credential, then open a session for its service.</${Empty}>`)}`;
}

export function Keys({ me }) {
  const [rows, setRows] = useState(null);
  const [form, setForm] = useState({ tenant: me.tenant, role: 'operator', label: '' });
  const [created, setCreated] = useState(null);
  const [error, report] = useError();
  const load = async () => {
    if (me.role !== 'admin') return;
    try { setRows(await api('GET', scoped('/v1/keys'))); report(null); } catch (e) { report(e); }
  };
  usePoll(load, 0);
  if (me.role !== 'admin') {
    return html`<h1>API keys</h1><${Empty}>Keys are managed with an admin key. Your key acts for tenant <b>${me.tenant}</b> as ${me.role}.</${Empty}>`;
  }
  const set = (name) => (e) => setForm({ ...form, [name]: e.target.value });
  return html`<h1>API keys</h1>
    <${ErrorBox} error=${error} onClose=${() => report(null)} />
    <form class="row" onSubmit=${(e) => e.preventDefault()}>
      <label>tenant <input value=${form.tenant} onInput=${set('tenant')} required data-testid="key-tenant" /></label>
      <label>role <${Select} value=${form.role} onChange=${(role) => setForm({ ...form, role })} options=${['operator', 'admin']} /></label>
      <label>label <input value=${form.label} onInput=${set('label')} data-testid="key-label" /></label>
      <${Action} kind="primary" run=${async () => {
        setCreated(await api('POST', '/v1/keys', { body: { ...form, label: form.label || null } }));
        report(null); await load();
      }} onError=${report} busyLabel="Creating…" testid="key-create">Create key</${Action}>
    </form>
    ${created && html`<div class="notice">Key <b>${created.id}</b> for ${created.tenant}: copy it now, it is not shown again.
      <pre class="json" data-testid="key-token">${created.token}</pre></div>`}
    ${rows && html`<table class="grid"><thead><tr><th>id</th><th>tenant</th><th>role</th><th>label</th><th>source</th><th>created</th><th>revoked</th><th></th></tr></thead>
      <tbody>${rows.map((k) => html`<tr key=${k.id} data-testid=${`key-${k.id}`}><td><code>${k.id}</code></td><td>${k.tenant}</td><td>${k.role}</td><td>${k.label || '—'}</td><td>${k.source}</td>
        <td>${when(k.created_at)}</td><td>${k.revoked_at ? when(k.revoked_at) : '—'}</td>
        <td class="actions">${!k.revoked_at && html`<${Action} kind="danger" confirm=${`Revoke ${k.id}? Every client using it is refused from now on.`}
          run=${async () => { await api('DELETE', `/v1/keys/${encodeURIComponent(k.id)}`); await load(); }} onError=${report} testid=${`revoke-${k.id}`}>Revoke</${Action}>`}</td></tr>`)}</tbody></table>`}`;
}

export function Audit() {
  const [tab, setTab] = useState('proxy');
  const [q, setQ] = useState('');
  const [page, setPage] = useState(null);
  const [error, report] = useError();
  usePoll(async () => {
    try {
      setPage(await api('GET', scoped(tab === 'proxy' ? '/v1/audit' : '/v1/audit/actions', { q, limit: 100 })));
      report(null);
    } catch (e) { report(e); }
  }, 5000, [tab, q]);
  return html`<h1>Audit</h1>
    <div class="tabs">
      <button class=${tab === 'proxy' ? 'active' : ''} onClick=${() => { setPage(null); setTab('proxy'); }}>Proxy requests</button>
      <button class=${tab === 'actions' ? 'active' : ''} onClick=${() => { setPage(null); setTab('actions'); }}>Control-plane actions</button>
    </div>
    <${ErrorBox} error=${error} />
    <input type="search" placeholder="search" value=${q} onInput=${(e) => setQ(e.target.value)} />
    ${page && (page.rows.length === 0 ? html`<${Empty}>Nothing recorded yet.</${Empty}>`
      : tab === 'proxy' ? html`<table class="grid"><thead><tr><th>at</th><th>session</th><th>service</th><th>request</th><th>status</th><th>upstream</th><th>refused because</th></tr></thead>
        <tbody>${page.rows.map((r) => html`<tr key=${r.id}><td>${when(r.at)}</td><td><code>${r.session_id}</code></td><td>${r.service}</td><td class="clip">${r.method} ${r.path}</td>
          <td>${r.status}</td><td>${r.upstream_ms != null ? `${r.upstream_ms} ms` : '—'}</td><td>${r.reject_reason || ''}</td></tr>`)}</tbody></table>`
      : html`<table class="grid"><thead><tr><th>at</th><th>tenant</th><th>actor</th><th>action</th><th>target</th></tr></thead>
        <tbody>${page.rows.map((r) => html`<tr key=${r.id}><td>${when(r.at)}</td><td>${r.tenant_id}</td><td><code>${r.actor}</code></td><td>${r.action}</td><td><code>${r.target}</code></td></tr>`)}</tbody></table>`)}
    ${page && html`<p class="muted small">${page.total} in all</p>`}`;
}

