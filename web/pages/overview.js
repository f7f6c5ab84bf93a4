// Overview: health, budgets, running jails, recent failures, and charts of
// runs over time and their resource use (from the jail ledger).

import { api, scoped } from '../api.js';
import { html, useState, usePoll, useError, ErrorBox, Badge, BarChart, Empty, bytes, when, ms } from '../ui.js';

const HOURS = 24;
/** Ledger rows read for the charts (the newest). */
const SAMPLE = 500;

function hourly(rows) {
  const now = Date.now();
  const start = now - HOURS * 3600_000;
  const bars = Array.from({ length: HOURS }, (_, i) => {
    const at = new Date(start + (i + 1) * 3600_000);
    return { label: `until ${String(at.getHours()).padStart(2, '0')}:${String(at.getMinutes()).padStart(2, '0')}`, values: [0, 0, 0] };
  });
  for (const row of rows) {
    const t = Date.parse(row.started_at);
    if (!(t > start)) continue;
    const bar = bars[Math.min(HOURS - 1, Math.floor((t - start) / 3600_000))];
    const k = row.status === 'completed' ? 0 : row.status === 'running' ? 2 : 1;
    bar.values[k] += 1;
  }
  return bars;
}

export function Overview({ me }) {
  const [data, setData] = useState(null);
  const [sample, setSample] = useState(null);
  const [error, report] = useError();
  usePoll(async () => {
    try {
      const [health, ready, whoami, stats, running, failures] = await Promise.all([
        api('GET', '/v1/health'),
        fetch('/readyz').then((r) => r.json()),
        api('GET', '/v1/whoami'),
        api('GET', '/v1/stats'),
        api('GET', scoped('/v1/jails', { status: 'running', limit: 20 })),
        api('GET', scoped('/v1/jails', { status: 'error', limit: 5 })),
      ]);
      setData({ health, ready, whoami, stats, running, failures });
      report(null);
    } catch (e) { report(e); }
  }, 5000);
  // The charts' sample of the ledger (whole rows, output included) is
  // heavier: read it less often.
  usePoll(async () => {
    try { setSample(await api('GET', scoped('/v1/jails', { limit: SAMPLE }))); } catch (e) { report(e); }
  }, 30_000);
  if (!data) return html`<${ErrorBox} error=${error} /><p class="muted">Loading…</p>`;
  const { health, ready, whoami, stats, running, failures } = data;
  const rows = sample ? sample.rows : [];
  // With more rows than the sample, the oldest hours may be short.
  const partial = sample && sample.total > rows.length ? ` (the newest ${rows.length} jails)` : '';
  const lastRuns = rows.slice(0, 40).reverse();
  return html`<h1>Overview</h1>
    <${ErrorBox} error=${error} />
    <section class="cards">
      <div class="card"><h3>Server</h3>
        <p><${Badge} value=${ready.ready ? 'ready' : 'not ready'} /> version ${health.version}</p>
        ${Object.entries(ready.checks || {}).map(([name, check]) => html`<div class="small">${name}: ${check.ok === false || check.error ? html`<span class="bad">${check.error || 'failing'}</span>` : 'ok'}</div>`)}
      </div>
      <div class="card"><h3>Budgets (${whoami.tenant})</h3>
        <div class="small">jails ${whoami.budgets.running} / ${whoami.budgets.max_concurrent}</div>
        <div class="small">memory ${whoami.budgets.memory_in_use_mb} / ${whoami.budgets.memory_mb} MiB</div>
        ${whoami.storage && html`<div class="small">storage ${whoami.storage.storage_in_use_mb} / ${whoami.storage.storage_mb} MiB</div>`}
      </div>
      <div class="card"><h3>Activity</h3>
        <div class="small">jails running now: <b data-testid="active-execs">${stats.active_execs}</b></div>
        <div class="small">jails run in total: ${stats.total_execs}</div>
        <div class="small">open sessions: ${stats.sessions} · credentials: ${stats.credentials}</div>
      </div>
    </section>
    <section class="cards">
      <div class="card wide"><${BarChart} title=${`Jails per hour, last ${HOURS} h${partial}`} bars=${hourly(rows)}
        colors=${['#3a8f5c', '#c0392b', '#2f6fb3']} legend=${['completed', 'failed or cancelled', 'running']} axis=${[`${HOURS} h ago`, 'now']} /></div>
      <div class="card wide"><${BarChart} title="Peak memory of the last 40 jails (MiB)"
        bars=${lastRuns.map((r) => ({ label: `#${r.id}`, values: [Math.round((r.memory_peak_bytes || 0) / 104857.6) / 10] }))}
        colors=${['#7a5cc0']} legend=${['memory peak']} slots=${40} /></div>
    </section>
    <h2>Running jails</h2>
    ${running.rows.length ? html`<${JailTable} rows=${running.rows} />` : html`<${Empty}>Nothing runs right now. <a href="#/runs">Run some code</a> or open a <a href="#/workspaces">workspace</a>.</${Empty}>`}
    <h2>Recent failures</h2>
    ${failures.rows.length ? html`<${JailTable} rows=${failures.rows} />` : html`<${Empty}>No failed jails.</${Empty}>`}
    ${me.role === 'admin' && html`<p class="muted small">Prometheus counters: <code>GET /metrics</code> with an admin key.</p>`}`;
}

export function JailTable({ rows }) {
  return html`<table class="grid"><thead><tr><th>#</th><th>kind</th><th>status</th><th>label</th><th>started</th><th>took</th><th>memory peak</th><th>exit</th></tr></thead>
    <tbody>${rows.map((r) => html`<tr key=${r.id}>
      <td><a href=${`#/ledger/${r.id}`}>${r.id}</a></td><td>${r.kind}</td><td><${Badge} value=${r.status} /></td>
      <td class="clip">${r.label}</td><td>${when(r.started_at)}</td><td>${ms(r.duration_ms)}</td>
      <td>${bytes(r.memory_peak_bytes)}</td><td>${r.exit_code ?? '—'}${r.timed_out ? ' (timeout)' : ''}${r.oom_killed ? ' (OOM)' : ''}</td></tr>`)}
    </tbody></table>`;
}
