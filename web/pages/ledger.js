// The jail ledger: every jail with filters, and one jail's detail (its
// output, the limits applied, resource use and egress).

import { api, scoped } from '../api.js';
import { html, useState, usePoll, useError, ErrorBox, Badge, Empty, Json, Select, bytes, when, ms } from '../ui.js';
import { JailTable } from './overview.js';

const PAGE = 50;

export function Ledger() {
  const [filters, setFilters] = useState({ status: '', kind: '', q: '' });
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState(null);
  const [error, report] = useError();
  usePoll(async () => {
    try {
      setPage(await api('GET', scoped('/v1/jails', { ...filters, limit: PAGE, offset })));
      report(null);
    } catch (e) { report(e); }
  }, 3000, [filters.status, filters.kind, filters.q, offset]);
  const set = (name) => (value) => { setOffset(0); setFilters({ ...filters, [name]: value }); };
  return html`<h1>Jail ledger</h1>
    <${ErrorBox} error=${error} />
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <label>status <${Select} value=${filters.status} onChange=${set('status')} testid="ledger-status"
        options=${[['', 'any'], 'running', 'completed', 'error', 'cancelled']} /></label>
      <label>kind <${Select} value=${filters.kind} onChange=${set('kind')} options=${[['', 'any'], 'run', 'exec', 'fork', 'stream', 'workspace']} /></label>
      <label>search <input type="search" value=${filters.q} onInput=${(e) => set('q')(e.target.value)} placeholder="label, session, error…" data-testid="ledger-search" /></label>
    </form>
    ${page && (page.rows.length ? html`<${JailTable} rows=${page.rows} />
      <div class="pager">
        <button disabled=${offset === 0} onClick=${() => setOffset(Math.max(0, offset - PAGE))}>Newer</button>
        <span class="muted">${offset + 1}–${offset + page.rows.length} of ${page.total}</span>
        <button disabled=${offset + PAGE >= page.total} onClick=${() => setOffset(offset + PAGE)}>Older</button>
      </div>` : html`<${Empty}>No jail matches. Runs, execs and workspaces appear here as they start.</${Empty}>`)}`;
}

export function JailDetail({ id }) {
  const [jail, setJail] = useState(null);
  const [error, report] = useError();
  usePoll(async () => {
    try { setJail(await api('GET', `/v1/jails/${encodeURIComponent(id)}`)); report(null); } catch (e) { report(e); }
  }, jail && jail.status !== 'running' ? 0 : 1000, [id, jail && jail.status]);
  if (!jail) return html`<${ErrorBox} error=${error} /><p class="muted">Loading…</p>`;
  const config = jail.config || {};
  const egress = jail.egress || [];
  return html`<p><a href="#/ledger">← Ledger</a></p>
    <h1>Jail #${jail.id} <${Badge} value=${jail.status} /></h1>
    <${ErrorBox} error=${error} />
    <section class="cards">
      <div class="card"><h3>Run</h3>
        <div class="small">kind ${jail.kind} · tenant ${jail.tenant_id}</div>
        <div class="small">label ${jail.label || '—'}</div>
        ${jail.session_id && html`<div class="small">session ${jail.session_id}</div>`}
        ${jail.parent_id && html`<div class="small">forked from <a href=${`#/ledger/${jail.parent_id}`}>#${jail.parent_id}</a></div>`}
        <div class="small">started ${when(jail.started_at)} · ended ${when(jail.ended_at)}</div>
        <div class="small">exit code <b data-testid="jail-exit">${jail.exit_code ?? '—'}</b>${jail.timed_out ? ' · timed out' : ''}${jail.oom_killed ? ' · killed for memory' : ''}</div>
        ${jail.error && html`<div class="small bad">${jail.error}</div>`}
      </div>
      <div class="card"><h3>Resource use</h3>
        <div class="small">took ${ms(jail.duration_ms)}</div>
        <div class="small">CPU ${jail.cpu_usage_usec != null ? ms(Math.round(jail.cpu_usage_usec / 1000)) : '—'}</div>
        <div class="small">memory peak ${bytes(jail.memory_peak_bytes)}</div>
        <div class="small">I/O read ${bytes(jail.io_read_bytes)} · written ${bytes(jail.io_write_bytes)}</div>
        <div class="small">processes ${jail.pids_current ?? '—'}</div>
      </div>
      <div class="card"><h3>Limits applied</h3>
        ${['memory_mb', 'timeout_secs', 'cpu_percent', 'max_pids', 'seccomp'].filter((k) => config[k] !== undefined)
          .map((k) => html`<div class="small">${k} ${String(config[k])}</div>`)}
        ${config.network_mode && html`<div class="small">network ${config.network_mode}${config.network_domains ? ` (${config.network_domains.join(', ')})` : ''}</div>`}
      </div>
    </section>
    <h2>stdout</h2>${jail.stdout ? html`<pre class="output" data-testid="jail-stdout">${jail.stdout}</pre>` : html`<p class="muted small">(empty)</p>`}
    <h2>stderr</h2>${jail.stderr ? html`<pre class="output">${jail.stderr}</pre>` : html`<p class="muted small">(empty)</p>`}
    ${config.network_mode === 'allowlist' && html`<h2>Egress</h2>
      <p class="muted small">Allowed domains: ${(config.network_domains || []).join(', ') || 'none'}</p>
      ${egress.length === 0 ? html`<${Empty}>No connection was attempted.</${Empty}>` : html`<table class="grid" data-testid="jail-egress">
        <thead><tr><th>request</th><th>address</th><th>outcome</th><th>why</th><th>status</th><th>up / down</th><th>took</th></tr></thead>
        <tbody>${egress.map((a) => html`<tr><td>${a.method} ${a.host}:${a.port}</td><td>${a.address || '—'}</td><td><${Badge} value=${a.outcome} /></td>
          <td class="clip" title=${a.detail || ''}>${a.reason || ''}</td><td>${a.status ?? '—'}</td><td>${bytes(a.bytes_up)} / ${bytes(a.bytes_down)}</td><td>${ms(a.duration_ms)}</td></tr>`)}</tbody></table>`}`}
    <${Json} value=${config} summary="Configuration as recorded" />`;
}
