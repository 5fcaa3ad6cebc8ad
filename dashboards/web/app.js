// Live view of one ztroot root: a WebSocket (/live) pushes a snapshot every second; this draws it.
// No framework, no build step, no CDN: an operator opens the page the root serves.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const history = []; // last 120 snapshots
  const fmt = (n) => (n >= 1e6 ? (n / 1e6).toFixed(1) + 'M' : n >= 1e4 ? (n / 1e3).toFixed(1) + 'k' : String(Math.round(n)));

  function setStatus(cls, text) {
    const s = $('status');
    s.className = 'status ' + cls;
    s.textContent = text;
  }

  function draw() {
    const c = $('chart');
    const ctx = c.getContext('2d');
    const w = c.width, h = c.height;
    ctx.clearRect(0, 0, w, h);
    const series = ['in', 'out', 'relayed', 'dropped'];
    const colors = { in: '#4fc3f7', out: '#aed581', relayed: '#ffb74d', dropped: '#e57373' };
    const max = Math.max(1, ...history.flatMap((s) => series.map((k) => s.rates[k])));
    ctx.strokeStyle = '#222b35';
    for (let i = 1; i < 4; i++) { ctx.beginPath(); ctx.moveTo(0, (h * i) / 4); ctx.lineTo(w, (h * i) / 4); ctx.stroke(); }
    ctx.fillStyle = '#8a94a3';
    ctx.font = '12px system-ui';
    ctx.fillText(fmt(max) + '/s', 4, 14);
    for (const k of series) {
      ctx.strokeStyle = colors[k];
      ctx.lineWidth = 2;
      ctx.beginPath();
      const offset = 120 - history.length; // newest at the right edge, older to the left
      history.forEach((s, i) => {
        const x = (w * (i + offset)) / 119;
        const y = h - (h - 20) * (s.rates[k] / max);
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.stroke();
    }
  }

  function render(s) {
    $('address').textContent = s.address;
    $('peers').textContent = fmt(s.peers);
    for (const k of ['in', 'out', 'relayed', 'dropped', 'rendezvous']) $(k).textContent = fmt(s.rates[k]);
    $('tcp').textContent = fmt(s.tcpClients);
    const drops = Object.entries(s.dropsByReason).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
    $('drops').tBodies[0].innerHTML = drops.length
      ? drops.map(([r, v]) => `<tr><td>${r.replace(/[<>&]/g, '')}</td><td>${fmt(v)}</td></tr>`).join('')
      : '<tr><td class="muted">none</td></tr>';
    $('roots').tBodies[0].innerHTML = s.roots
      .map((r) => `<tr><td class="mono">${r.address}</td><td class="mono">${r.planet}</td><td>${fmt(r.peers)}</td><td>${r.heartbeatAgoSec}s ago</td></tr>`)
      .join('');
    renderProbe(s.probe, s.probeReason);
    history.push(s);
    if (history.length > 120) history.shift();
    draw();
  }

  // Roots × roots from the embedded probes: each cell's class and text are its health (direct, relayed,
  // tunneled, down, pending); rootIds are shortened to the root address and instance id's first digits.
  const CELLS = ['direct', 'relayed', 'tunneled', 'down', 'pending'];
  const clean = (t) => String(t).replace(/[^0-9a-zA-Z._:-]/g, '');
  const short = (id) => clean(id).slice(0, 16);
  const esc = (t) => String(t).replace(/[<>&"']/g, (c) => '&#' + c.charCodeAt(0) + ';');
  function renderProbe(m, reason) {
    const t = $('probe-matrix');
    if (!m) {
      t.innerHTML = `<tbody><tr><td class="muted">no probe running: ${esc(reason || 'unknown')}</td></tr></tbody>`;
      t.dataset.state = 'off';
      return;
    }
    const head = '<thead><tr><th>from \\ to</th>' + m.roots.map((r) => `<th class="mono" title="${clean(r)}">${short(r)}</th>`).join('') + '</tr></thead>';
    const body = m.roots
      .map((from) => {
        const row = m.rows[from] || {};
        const cells = m.roots.map((to) => {
          if (to === from) return '<td class="cell cell-self">—</td>';
          const c = CELLS.includes(row[to]) ? row[to] : 'none';
          return `<td class="cell cell-${c}" data-from="${clean(from)}" data-to="${clean(to)}">${c === 'none' ? '?' : c}</td>`;
        });
        return `<tr><th class="mono" title="${clean(from)}">${short(from)}</th>${cells.join('')}</tr>`;
      })
      .join('');
    t.innerHTML = head + '<tbody>' + body + '</tbody>';
    t.dataset.state = 'on';
  }

  function connect() {
    const token = new URLSearchParams(location.search).get('token');
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/live' + (token ? '?token=' + encodeURIComponent(token) : '');
    const ws = new WebSocket(url);
    ws.onopen = () => setStatus('live', 'live');
    ws.onmessage = (e) => render(JSON.parse(e.data));
    ws.onclose = () => {
      setStatus('down', 'disconnected — retrying');
      setTimeout(connect, 2000);
    };
  }
  connect();
})();
