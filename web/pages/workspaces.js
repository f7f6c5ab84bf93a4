// Workspaces: search, create (empty, from git or from a snapshot), and the
// lifecycle actions of each one.

import { api, scoped, workspacePath } from '../api.js';
import { html, useState, usePoll, useError, ErrorBox, Action, Badge, Empty, Select, when } from '../ui.js';

/** The lifecycle buttons of one workspace (also on its own page). */
export function Lifecycle({ workspace, state, onChange, report, compact = false }) {
  const path = workspacePath(workspace.id);
  const post = (what, body) => async () => { await api('POST', `${path}/${what}`, { body }); await onChange(); };
  const paused = Boolean(workspace.paused_at);
  const running = state === 'running';
  return html`<span class="actions">
    ${paused ? html`<${Action} run=${post('resume')} onError=${report} busyLabel="Resuming…">Resume</${Action}>`
      : running ? html`<${Action} run=${post('stop')} onError=${report} busyLabel="Stopping…">Stop</${Action}>
          <${Action} run=${post('pause')} onError=${report} busyLabel="Pausing…" title="Snapshot the tree and free its disk until resumed">Pause</${Action}>`
      : html`<${Action} run=${post('start')} onError=${report} busyLabel="Starting…" testid="ws-start">Start</${Action}>`}
    ${!compact && html`<${Action} run=${post('fork', { count: 1 })} onError=${report} busyLabel="Forking…" disabled=${paused}>Fork</${Action}>
      <${Action} run=${post('snapshot', {})} onError=${report} busyLabel="Snapshotting…" disabled=${paused}>Snapshot</${Action}>`}
    <${Action} kind="danger" confirm=${`Delete workspace ${workspace.label || workspace.id}? Its files and processes go with it.`}
      run=${async () => { await api('DELETE', path); await onChange(true); }} onError=${report} busyLabel="Deleting…">Delete</${Action}>
  </span>`;
}

function CreateForm({ onCreated, report }) {
  const [mode, setMode] = useState('empty');
  const [label, setLabel] = useState('');
  const [repo, setRepo] = useState('');
  const [ref, setRef] = useState('');
  const [snapshot, setSnapshot] = useState('');
  const [snapshots, setSnapshots] = useState([]);
  const [network, setNetwork] = useState('none');
  const [flavors, setFlavors] = useState([]);
  const [chosenFlavors, setChosenFlavors] = useState([]);
  usePoll(async () => {
    try { setFlavors((await api('GET', '/v1/flavors')).map((f) => f.name)); } catch (e) { report(e); }
  }, 0);
  usePoll(async () => {
    if (mode !== 'snapshot') return;
    try { setSnapshots((await api('GET', scoped('/v1/snapshots', { limit: 200 }))).rows); } catch (e) { report(e); }
  }, 0, [mode]);
  const create = async () => {
    let workspace;
    if (mode === 'snapshot') {
      const chosen = snapshots.find((s) => s.id === snapshot);
      if (!chosen) throw { code: 'BAD_REQUEST', message: 'choose a snapshot' };
      workspace = await api('POST', '/v1/workspaces/from-snapshot', {
        body: { snapshot_id: chosen.id, parent_workspace_id: chosen.workspace_id, label: label || null },
      });
    } else {
      const body = { label: label || undefined, network: { mode: network }, flavors: chosenFlavors };
      if (mode === 'git') body.git = { repo, ref: ref || undefined };
      workspace = await api('POST', scoped('/v1/workspaces'), { body });
    }
    report(null);
    onCreated(workspace);
  };
  return html`<form class="stack card" onSubmit=${(e) => e.preventDefault()}>
    <h3>New workspace</h3>
    <div class="row">
      ${[['empty', 'Empty'], ['git', 'From git'], ['snapshot', 'From a snapshot']].map(([value, name]) => html`
        <label class="check"><input type="radio" name="mode" checked=${mode === value} onChange=${() => setMode(value)} /> ${name}</label>`)}
    </div>
    <div class="row">
      <label>label <input value=${label} onInput=${(e) => setLabel(e.target.value)} placeholder="my-project" data-testid="ws-label" /></label>
      ${mode !== 'snapshot' && html`<label>network <${Select} value=${network} onChange=${setNetwork} options=${['none', 'loopback']} /></label>`}
      ${mode !== 'snapshot' && flavors.map((name) => html`<label class="check" title="a toolchain mounted read-only at /opt/flavors">
        <input type="checkbox" data-testid=${`flavor-${name}`} checked=${chosenFlavors.includes(name)}
          onChange=${() => setChosenFlavors(chosenFlavors.includes(name) ? chosenFlavors.filter((f) => f !== name) : [...chosenFlavors, name])} /> ${name}</label>`)}
      ${mode === 'git' && html`<label>repository <input value=${repo} onInput=${(e) => setRepo(e.target.value)} placeholder="https://…/repo.git" required size="36" /></label>
        <label>ref <input value=${ref} onInput=${(e) => setRef(e.target.value)} placeholder="main" /></label>`}
      ${mode === 'snapshot' && html`<label>snapshot <${Select} value=${snapshot} onChange=${setSnapshot}
        options=${[['', 'choose…'], ...snapshots.filter((s) => s.workspace_id).map((s) => [s.id, `${s.name || s.id} (${s.workspace_id}, ${when(s.created_at)})`])]} /></label>`}
      <${Action} kind="primary" run=${create} onError=${report} busyLabel=${mode === 'git' ? 'Cloning…' : 'Creating…'} testid="ws-create">Create</${Action}>
    </div>
  </form>`;
}

export function Workspaces() {
  const [q, setQ] = useState('');
  const [page, setPage] = useState(null);
  const [states, setStates] = useState({});
  const [error, report] = useError();
  const load = async () => {
    try {
      const found = await api('GET', scoped('/v1/workspaces', { q, limit: 100 }));
      setPage(found);
      const pairs = await Promise.all(found.rows.map((w) =>
        api('GET', `${workspacePath(w.id)}/state`).then((s) => [w.id, s.state]).catch(() => [w.id, '?'])));
      setStates(Object.fromEntries(pairs));
    } catch (e) { report(e); }
  };
  usePoll(load, 10_000, [q]);
  return html`<h1>Workspaces</h1>
    <${ErrorBox} error=${error} onClose=${() => report(null)} />
    <${CreateForm} report=${report} onCreated=${(w) => { location.hash = `#/workspaces/${w.id}`; }} />
    <input type="search" placeholder="search labels and ids" value=${q} onInput=${(e) => setQ(e.target.value)} data-testid="ws-search" />
    ${page && (page.rows.length ? html`<table class="grid"><thead><tr><th>workspace</th><th>state</th><th>source</th><th>created</th><th>last exec</th><th></th></tr></thead>
      <tbody>${page.rows.map((w) => html`<tr key=${w.id} data-testid=${`ws-row-${w.id}`}>
        <td><a href=${`#/workspaces/${w.id}`}>${w.label || w.id}</a><div class="muted small">${w.id}${w.tenant_id ? ` · ${w.tenant_id}` : ''}</div></td>
        <td><${Badge} value=${w.paused_at ? 'paused' : states[w.id] || '…'} /></td>
        <td class="clip">${w.git_repo ? `${w.git_repo}${w.git_ref ? ` @ ${w.git_ref}` : ''}` : '—'}</td>
        <td>${when(w.created_at)}</td><td>${when(w.last_exec_at)}</td>
        <td><${Lifecycle} workspace=${w} state=${states[w.id]} onChange=${load} report=${report} compact=${true} /></td></tr>`)}</tbody></table>
      <p class="muted small">${page.total} workspace${page.total === 1 ? '' : 's'}</p>`
      : html`<${Empty}>${q ? 'No workspace matches.' : 'No workspaces yet. Create one above: it keeps its files at /workspace between runs, with a terminal, a file browser and previews.'}</${Empty}>`)}`;
}
