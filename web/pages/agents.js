// Agent sessions in a workspace: start a coding agent, prompt it, read its
// turns (text and tool calls), and answer its permission requests.

import { api, runtime, workspacePath } from '../api.js';
import { html, useState, usePoll, useApi, useError, ErrorBox, Action, Badge, Empty, Select, when } from '../ui.js';

function Session({ id, session, onChange, report }) {
  const base = `${workspacePath(id)}/agent-sessions/${encodeURIComponent(session.id)}`;
  const [turns, setTurns] = useState([]);
  const [prompt, setPrompt] = useState('');
  const streaming = turns.some((t) => t.status === 'streaming');
  const load = async () => {
    try { setTurns((await api('GET', `${base}/turns`)).turns); await onChange(); } catch (e) { report(e); }
  };
  const waiting = session.pendingPermissions.length > 0;
  usePoll(load, streaming || waiting ? 1000 : 0, [session.id, streaming, waiting]);
  const send = async () => {
    await api('POST', `${base}/turns`, { body: { prompt, detach: true } });
    setPrompt('');
    report(null);
    await load();
  };
  const answer = (request, reply) => async () => {
    await api('POST', `${base}/permissions/${encodeURIComponent(request.id)}`, { body: { reply } });
    await load();
  };
  return html`<div class="transcript" data-testid="agent-transcript">
    ${turns.length === 0 && html`<${Empty}>No turns yet: prompt the agent below.</${Empty}>`}
    ${turns.map((turn) => html`<div class="turn">
      <div class="prompt"><b>you</b> ${turn.prompt.map((block) => block.text || `[${block.type}]`).join(' ')}</div>
      ${turn.toolCalls.map((call) => html`<div class="tool small">tool: ${call.title || call.kind || call.toolCallId} <${Badge} value=${call.status || 'pending'} /></div>`)}
      <div class="reply"><b>${session.agent}</b> <span data-testid="agent-reply">${turn.text}</span></div>
      <div class="muted small"><${Badge} value=${turn.status} /> ${turn.stopReason || turn.interruptReason || ''} · ${when(turn.startedAt)}</div>
    </div>`)}
    ${session.pendingPermissions.map((request) => html`<div class="notice" data-testid="permission-request">
      The agent asks to ${request.toolCall && request.toolCall.title ? html`<b>${request.toolCall.title}</b>` : 'use a tool'}.
      <span class="actions">
        <${Action} kind="primary" run=${answer(request, 'once')} onError=${report} testid="permission-allow">Allow once</${Action}>
        <${Action} run=${answer(request, 'always')} onError=${report}>Always allow</${Action}>
        <${Action} kind="danger" run=${answer(request, 'reject')} onError=${report}>Reject</${Action}>
      </span></div>`)}
    <form class="row" onSubmit=${(e) => e.preventDefault()}>
      <textarea class="grow" rows="2" value=${prompt} onInput=${(e) => setPrompt(e.target.value)} placeholder="Ask the agent…" data-testid="agent-prompt"></textarea>
      <${Action} kind="primary" run=${send} onError=${report} disabled=${streaming || !prompt.trim()} busyLabel="Sending…" testid="agent-send">${streaming ? 'Working…' : 'Send'}</${Action}>
      ${streaming && html`<${Action} run=${async () => { const t = turns.find((x) => x.status === 'streaming'); await api('POST', `${base}/turns/${encodeURIComponent(t.turnId)}/cancel`); await load(); }} onError=${report}>Cancel</${Action}>`}
    </form>
  </div>`;
}

export function AgentsPanel({ id, refresh }) {
  const path = `${workspacePath(id)}/agent-sessions`;
  const [agents, setAgents] = useState([]);
  const [agent, setAgent] = useState('mock');
  const [permissions, setPermissions] = useState('ask');
  const [chosen, setChosen] = useState(null);
  const [error, report] = useError();
  const [sessions, load] = useApi(path, { pick: (answer) => answer.sessions, report });
  usePoll(async () => {
    try {
      const installed = (await api('GET', `${runtime(id)}/agents`)).agents.filter((a) => a.installed);
      setAgents(installed);
      setAgent((current) => (installed.some((a) => a.id === current) ? current : installed[0]?.id || ''));
    } catch (e) { report(e); }
  }, 0, [id]);
  const current = sessions && sessions.find((s) => s.id === chosen);
  return html`<${ErrorBox} error=${error} onClose=${() => report(null)} />
    <form class="row" onSubmit=${(e) => e.preventDefault()}>
      <label>agent <${Select} value=${agent} onChange=${setAgent} testid="agent-choice"
        options=${agents.map((a) => [a.id, `${a.id}${a.credentialsAvailable === false ? ' (no credential)' : ''}`])} /></label>
      <label>permission requests <${Select} value=${permissions} onChange=${setPermissions}
        options=${[['ask', 'ask me here'], ['allow', 'allow all'], ['reject', 'reject all']]} /></label>
      <${Action} kind="primary" run=${async () => { const s = await api('POST', path, { body: { agent, permissions } }); report(null); refresh(); await load(); setChosen(s.id); }}
        onError=${report} busyLabel="Starting the agent…" testid="agent-start" disabled=${!agent}>Start session</${Action}>
    </form>
    ${agents.length === 0 && html`<p class="muted small">No agent is installed besides what the list shows; install the real ones with <code>paddock agents install</code>.</p>`}
    ${sessions && (sessions.length === 0 ? html`<${Empty}>No agent sessions in this workspace.</${Empty}>`
      : html`<div class="tabs">${sessions.map((s) => html`<button class=${s.id === chosen ? 'active' : ''} onClick=${() => setChosen(s.id)}>
          ${s.agent} · ${s.id} <${Badge} value=${s.status} />${s.pendingPermissions.length ? html` <${Badge} value="waiting for you" />` : ''}</button>`)}</div>`)}
    ${current && html`<${Session} key=${current.id} id=${id} session=${current} onChange=${load} report=${report} />
      <${Action} kind="danger" run=${async () => { await api('DELETE', `${path}/${encodeURIComponent(current.id)}`); setChosen(null); await load(); }} onError=${report}>End session</${Action}>`}`;
}
