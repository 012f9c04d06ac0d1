/**
 * The inspector page's script. It runs in the browser, not in the daemon: the server sends its
 * source text (see `liveClientSource`). It must therefore be self-contained: no imports, no
 * references to anything outside the function. Type-checked here against the DOM types.
 *
 * It keeps the server-rendered page live: connects to /live (WebSocket), lights the active
 * states (`data-active="true"` on `[data-state-id]` nodes), refreshes each actor's state and
 * context, adds peers' charts as they appear, and prepends event-log rows (bounded).
 */
function liveClient(): void {
  interface ActorView {
    sessionId: string;
    label: string;
    machineId: string;
    status: string;
    state: string;
    activeStateIds: string[];
    context: unknown;
  }
  interface LogEntry {
    seq: number;
    time: number;
    type: string;
    source: string;
    target: string;
    state?: string;
    payload: unknown;
  }
  interface Summary {
    provisioned: boolean;
    peerConnected: string;
  }
  interface View {
    actors: ActorView[];
    log: LogEntry[];
    summary?: Summary;
    logLimit: number;
  }
  type Message =
    | { kind: 'view'; view: View }
    | { kind: 'update'; actors: ActorView[]; removed: string[]; log: LogEntry[]; summary?: Summary };

  const logLimit = Number(document.body.dataset['logLimit'] ?? '200') || 200;
  const connection = document.getElementById('connection');
  const logBody = document.getElementById('log-body');
  const actorsSection = document.getElementById('actors');

  const setConnection = (state: string, text: string) => {
    if (!connection) return;
    connection.dataset['connection'] = state;
    connection.textContent = text;
  };
  const role = (root: ParentNode, name: string) => root.querySelector<HTMLElement>(`[data-role="${name}"]`);
  const setText = (el: Element | null, text: string) => {
    if (el && el.textContent !== text) el.textContent = text;
  };
  const clock = (ms: number) => new Date(ms).toISOString().slice(11, 23);

  const articleFor = (a: ActorView): HTMLElement | null => {
    const existing = document.querySelector<HTMLElement>(`article[data-actor="${CSS.escape(a.sessionId)}"]`);
    if (existing) return existing;
    const template = document.getElementById(`actor-template-${a.machineId}`);
    if (!(template instanceof HTMLTemplateElement) || !actorsSection) return null;
    const article = template.content.firstElementChild?.cloneNode(true);
    if (!(article instanceof HTMLElement)) return null;
    article.dataset['actor'] = a.sessionId;
    article.dataset['label'] = a.label;
    document.querySelector(`article[data-definition="${CSS.escape(a.machineId)}"]`)?.remove();
    // Keep the daemon first and the others in label order.
    const siblings = [...actorsSection.querySelectorAll<HTMLElement>(`article[data-machine="${CSS.escape(a.machineId)}"][data-actor]`)];
    const next = siblings.find((s) => (s.dataset['label'] ?? '') > a.label);
    actorsSection.insertBefore(article, next ?? null);
    return article;
  };

  const applyActor = (a: ActorView) => {
    const article = articleFor(a);
    if (!article) return;
    article.dataset['status'] = a.status;
    setText(role(article, 'label'), a.label);
    setText(role(article, 'state'), a.state);
    setText(role(article, 'status'), a.status);
    setText(role(article, 'context'), JSON.stringify(a.context, null, 2) ?? '');
    const want = new Set(a.activeStateIds);
    for (const node of article.querySelectorAll<SVGGElement>('[data-state-id]')) {
      const id = node.getAttribute('data-state-id') ?? '';
      if (want.has(id)) node.setAttribute('data-active', 'true');
      else node.removeAttribute('data-active');
    }
  };

  const removeActor = (sessionId: string) => {
    document.querySelector(`article[data-actor="${CSS.escape(sessionId)}"]`)?.remove();
  };

  const cell = (text: string, roleName: string, cls?: string) => {
    const td = document.createElement('td');
    td.dataset['role'] = roleName;
    if (cls) td.className = cls;
    td.textContent = text;
    return td;
  };

  const applyLog = (entries: LogEntry[], animate: boolean) => {
    if (!logBody) return;
    for (const e of entries) {
      const payload = e.payload && typeof e.payload === 'object' && Object.keys(e.payload).length ? JSON.stringify(e.payload) : '';
      const existing = logBody.querySelector<HTMLTableRowElement>(`tr[data-seq="${e.seq}"]`);
      if (existing) {
        setText(role(existing, 'state'), e.state ?? '…');
        continue;
      }
      const tr = document.createElement('tr');
      tr.dataset['seq'] = String(e.seq);
      const time = cell(clock(e.time), 'time', 'time');
      time.title = new Date(e.time).toISOString();
      tr.append(
        time,
        cell(e.type, 'type', 'type'),
        cell(e.source, 'source'),
        cell(e.target, 'target'),
        cell(e.state ?? '…', 'state'),
        cell(payload, 'payload', 'payload'),
      );
      if (animate) tr.className = 'fresh';
      // Newest first: before the first row with a smaller sequence number.
      const rows = [...logBody.querySelectorAll<HTMLTableRowElement>('tr[data-seq]')];
      const before = rows.find((r) => Number(r.dataset['seq']) < e.seq);
      logBody.insertBefore(tr, before ?? null);
    }
    const rows = logBody.querySelectorAll('tr[data-seq]');
    for (let i = logLimit; i < rows.length; i++) rows[i]?.remove();
  };

  const applySummary = (s: Summary | undefined) => {
    if (!s) return;
    setText(document.querySelector('[data-dbus-property="provisioned"]'), String(s.provisioned));
    setText(document.querySelector('[data-dbus-property="peerConnected"]'), s.peerConnected);
  };

  const apply = (msg: Message) => {
    if (msg.kind === 'view') {
      const live = new Set(msg.view.actors.map((a) => a.sessionId));
      for (const el of document.querySelectorAll<HTMLElement>('article[data-actor]')) {
        if (!live.has(el.dataset['actor'] ?? '')) el.remove();
      }
      msg.view.actors.forEach(applyActor);
      if (logBody) logBody.textContent = '';
      applyLog([...msg.view.log].reverse(), false);
      applySummary(msg.view.summary);
      return;
    }
    msg.actors.forEach(applyActor);
    msg.removed.forEach(removeActor);
    applyLog(msg.log, true);
    applySummary(msg.summary);
  };

  let retryMs = 500;
  const connect = () => {
    const ws = new WebSocket(`ws://${location.host}/live`);
    ws.onopen = () => {
      retryMs = 500;
      setConnection('live', 'live');
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data !== 'string') return;
      try {
        apply(JSON.parse(ev.data) as Message);
      } catch (err) {
        console.error('inspector: bad message', err);
      }
    };
    ws.onclose = () => {
      setConnection('lost', `connection lost, retrying in ${Math.round(retryMs / 1000)} s`);
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 10_000);
    };
  };
  setConnection('connecting', 'connecting…');
  connect();
}

/**
 * The script as served: the function's source, called once. `__name` is declared because tsx
 * (esbuild with keepNames) wraps named inner functions in `__name(fn, "name")` calls.
 */
export function liveClientSource(): string {
  return `const __name = (fn) => fn;\n(${liveClient.toString()})();\n`;
}
