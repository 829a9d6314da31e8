"""The dashboard's one stylesheet and one script (served from ``/static``)."""

CSS = """
body { font-family: system-ui, sans-serif; margin: 0; color: #222; background: #f6f7f9; }
header { background: #1f3b5a; color: #fff; display: flex; align-items: center; gap: 1.2em;
  padding: .5em 1em; }
header .brand { font-weight: bold; font-size: 1.2em; }
header nav { display: flex; align-items: center; gap: 1em; flex: 1; }
header nav a { color: #dfe8f2; text-decoration: none; }
header nav a.active { color: #fff; font-weight: bold; border-bottom: 2px solid #fff; }
header .user { margin-left: auto; font-size: .9em; }
main { padding: 1em 1.5em; }
h1 { font-size: 1.4em; margin: .2em 0 .6em; }
h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
table { border-collapse: collapse; background: #fff; margin-bottom: 1em; }
th, td { border: 1px solid #d5d9de; padding: .3em .6em; text-align: left; vertical-align: top;
  font-size: .92em; }
th { background: #e9edf2; }
.cards { display: flex; flex-wrap: wrap; gap: .8em; margin-bottom: 1em; }
.card { background: #fff; border: 1px solid #d5d9de; border-radius: 6px; padding: .6em 1em;
  min-width: 9em; }
.card .v { font-size: 1.5em; font-weight: bold; }
.card .k { font-size: .85em; color: #555; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
.chart { background: #fff; border: 1px solid #d5d9de; }
.chart-title { font-size: 13px; font-weight: bold; fill: #222; }
.chart-label { font-size: 11px; fill: #333; }
.chart-small { font-size: 8px; }
.chart-value { font-size: 10px; fill: #333; }
.inline { display: inline; }
.muted { color: #777; }
.caller { color: #1f3b5a; }
.bot { color: #5a3b1f; }
.error { color: #b00020; }
.pop { background: #fff8e1; border: 2px solid #e0a800; padding: .8em 1em; border-radius: 6px;
  margin-bottom: 1em; }
form.filters { margin-bottom: 1em; }
.login { max-width: 22em; background: #fff; padding: 1em 1.5em; border: 1px solid #d5d9de; }
.login label { display: block; margin: .5em 0; }
.login input { width: 100%; }
pre.yaml { background: #fff; border: 1px solid #d5d9de; padding: .6em; }
"""

JS = """
// Live views: server-sent events update tables built with textContent (never innerHTML).
function cell(tr, text, href) {
  const td = document.createElement('td');
  if (href) { const a = document.createElement('a'); a.href = href; a.textContent = text;
    td.appendChild(a); } else { td.textContent = text; }
  tr.appendChild(td);
}
function mmss(s) {
  s = Math.round(s);
  return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
}
function liveCalls(el) {
  const src = new EventSource(el.dataset.events);
  src.addEventListener('calls', (ev) => {
    const calls = JSON.parse(ev.data);
    const body = el.querySelector('tbody');
    body.replaceChildren();
    for (const c of calls) {
      const tr = document.createElement('tr');
      tr.dataset.call = c.id;
      cell(tr, c.id, '/calls/' + encodeURIComponent(c.id));
      cell(tr, c.caller_id || '');
      cell(tr, mmss(c.duration_s));
      cell(tr, c.doing || '');
      cell(tr, c.current_intent || '');
      cell(tr, String(c.turn_count));
      body.appendChild(tr);
    }
    document.getElementById('live-count').textContent = String(calls.length);
  });
}
function agentPops(el) {
  const src = new EventSource(el.dataset.events);
  src.addEventListener('handoff', (ev) => {
    const c = JSON.parse(ev.data);
    const box = document.getElementById('pop');
    box.hidden = false;
    box.dataset.call = c.id;
    box.dataset.ringing = c.ringing ? 'yes' : '';
    const title = box.querySelector('h2');
    if (title) title.textContent = c.ringing ? 'Your phone is ringing: this caller'
                                            : 'Caller being transferred to you';
    for (const key of ['caller', 'verified', 'intent', 'reason', 'department', 'summary', 'at']) {
      const node = box.querySelector('[data-k="' + key + '"]');
      if (node) node.textContent = c[key] || '';
    }
    const link = box.querySelector('a.open');
    link.href = '/agent/call/' + encodeURIComponent(c.ref);
    const list = box.querySelector('ol');
    list.replaceChildren();
    for (const t of c.transcript) {
      const li = document.createElement('li');
      li.className = t.speaker;
      li.textContent = t.speaker + ': ' + t.text;
      list.appendChild(li);
    }
    const recent = document.querySelector('table.handoffs tbody');
    const listed = recent && [...recent.rows].some((r) => r.dataset.call === c.id);
    if (recent && !listed) {
      const tr = document.createElement('tr');
      tr.dataset.call = c.id;
      for (const key of ['at', 'caller', 'intent', 'reason', 'department']) cell(tr, c[key] || '');
      cell(tr, 'context', '/agent/call/' + encodeURIComponent(c.ref));
      recent.prepend(tr);
    }
  });
}
document.addEventListener('DOMContentLoaded', () => {
  const live = document.getElementById('live-calls');
  if (live) liveCalls(live);
  const agent = document.getElementById('agent-pops');
  if (agent) agentPops(agent);
  for (const box of document.querySelectorAll('input[data-check-all]')) {
    box.addEventListener('change', () => {
      for (const c of document.querySelectorAll('input[name="turn"]')) c.checked = box.checked;
    });
  }
});
"""
