// A notebook on the workspace's Jupyter kernels: cells that keep their
// variables between runs, with images, tables and errors. HTML results are
// shown as source: the console never runs markup that came from a jail.

import { api, workspacePath } from '../api.js';
import { html, useState, useApi, useError, ErrorBox, Action, Json, Empty, Select, when, ms } from '../ui.js';

const LANGUAGES = ['python', 'node', 'typescript', 'bash'];
const SESSION = 'console';
let nextCell = 1;

function Result({ part }) {
  switch (part.type) {
    case 'image': return html`<img class="plot" alt="kernel image" src=${`data:image/${part.format === 'svg' ? 'svg+xml' : part.format};base64,${part.data}`} data-testid="cell-image" />`;
    case 'dataframe': return html`<table class="grid small"><thead><tr>${part.columns.map((c) => html`<th title=${c.dtype}>${c.name}</th>`)}</tr></thead>
      <tbody>${part.rows.map((row) => html`<tr>${row.map((v) => html`<td>${v === null ? '—' : String(v)}</td>`)}</tr>`)}</tbody></table>
      ${part.truncated && html`<p class="muted small">rows left out</p>`}`;
    case 'json': return html`<${Json} value=${part.value} open=${true} summary="JSON result" />`;
    case 'html': return html`<details><summary>HTML result (as source)</summary><pre>${part.value}</pre></details>`;
    default: return html`<pre class="output">${part.value ?? JSON.stringify(part)}</pre>`;
  }
}

/** A cell; `onChange(patch)` merges `patch` into the cell as it is now. */
function Cell({ id, cell, onChange, onRemove, report, refresh }) {
  const run = async () => {
    onChange({ running: true });
    try {
      const result = await api('POST', `${workspacePath(id)}/code`, {
        body: { language: cell.language, code: cell.code, sessionId: SESSION },
      });
      onChange({ running: false, result });
      // The first call starts the workspace (and a kernel).
      if (result.kernel.started) refresh();
      report(null);
    } catch (e) { onChange({ running: false }); report(e); }
  };
  const result = cell.result;
  return html`<div class="cell" data-testid="cell">
    <div class="row">
      <span class="muted small">[${result ? result.kernel.executionCount : ' '}]</span>
      <${Select} value=${cell.language} onChange=${(language) => onChange({ language })} options=${LANGUAGES} />
      <${Action} kind="primary" run=${run} busyLabel="Running…" testid="cell-run">Run</${Action}>
      <button class="link" onClick=${onRemove}>remove</button>
    </div>
    <textarea class="code" rows=${Math.max(3, cell.code.split('\n').length)} spellcheck="false" value=${cell.code} data-testid="cell-code"
      onInput=${(e) => onChange({ code: e.target.value })}
      onKeyDown=${(e) => { if (e.key === 'Enter' && e.shiftKey) { e.preventDefault(); run(); } }}></textarea>
    ${result && html`<div class="cell-out" data-testid="cell-output">
      ${result.stdout && html`<pre class="output">${result.stdout}</pre>`}
      ${result.stderr && html`<pre class="output stderr">${result.stderr}</pre>`}
      ${result.results.map((part) => html`<${Result} part=${part} />`)}
      ${result.error && html`<pre class="output stderr">${result.error.name}: ${result.error.message}${result.error.traceback ? `\n${result.error.traceback}` : ''}</pre>`}
      <p class="muted small">exit ${result.exitCode} · ${ms(result.durationMs)}${result.kernel.started ? ' · a new kernel started' : ''}</p>
    </div>`}
  </div>`;
}

export function NotebookPanel({ id, refresh }) {
  const [cells, setCells] = useState([{ key: nextCell++, language: 'python', code: 'x = 6 * 7\nprint("the answer is", x)' }]);
  const [error, report] = useError();
  const path = `${workspacePath(id)}/kernels`;
  const [kernels, load] = useApi(path, { pick: (answer) => answer.kernels, report, every: 5000 });
  const change = (key) => (patch) => setCells((all) => all.map((c) => (c.key === key ? { ...c, ...patch } : c)));
  return html`<${ErrorBox} error=${error} onClose=${() => report(null)} />
    <p class="muted">Cells run on the workspace's kernels (session <code>${SESSION}</code>): variables live on between cells. Shift+Enter runs a cell.</p>
    ${cells.map((cell) => html`<${Cell} key=${cell.key} id=${id} cell=${cell} report=${report} refresh=${refresh} onChange=${change(cell.key)}
      onRemove=${() => setCells(cells.filter((c) => c.key !== cell.key))} />`)}
    <button onClick=${() => setCells([...cells, { key: nextCell++, language: cells.length ? cells[cells.length - 1].language : 'python', code: '' }])} data-testid="cell-add">Add cell</button>
    <h3>Kernels</h3>
    ${kernels && (kernels.length === 0 ? html`<${Empty}>No kernel runs. The first cell starts one.</${Empty}>`
      : html`<table class="grid"><thead><tr><th>kernel</th><th>language</th><th>session</th><th>state</th><th>runs</th><th>started</th><th></th></tr></thead>
        <tbody>${kernels.map((k) => html`<tr key=${k.id}><td><code>${k.id}</code></td><td>${k.language}</td><td>${k.sessionId || '—'}</td><td>${k.state}</td><td>${k.executionCount}</td><td>${when(k.startedAt)}</td>
          <td class="actions"><${Action} run=${async () => { await api('POST', `${path}/${k.id}/interrupt`); await load(); }} onError=${report}>Interrupt</${Action}>
            <${Action} run=${async () => { await api('POST', `${path}/${k.id}/restart`); await load(); }} onError=${report} busyLabel="Restarting…">Restart</${Action}>
            <${Action} kind="danger" run=${async () => { await api('DELETE', `${path}/${k.id}`); await load(); }} onError=${report}>Shut down</${Action}></td></tr>`)}</tbody></table>`)}`;
}
